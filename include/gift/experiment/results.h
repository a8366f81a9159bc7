// The rows of a misspecification sweep (SPEC.md §5): one SweepRow per finished cell, which
// `gift sweep` appends to DIR/results.jsonl (row_to_json, the one writer) and `gift sweep`
// (to resume) and `gift report` read back (parse_results / read_results, the one reader).
//
// Levels ("assumed", "true") are multipliers of the grid's noise pattern, plain numbers >= 0;
// accuracies are fractions in [0, 1].
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gift/core/stats.h"

namespace gift::experiment {

// Recovery (after - before) / (oracle - before) is reported only where the oracle beats the
// start by at least this much accuracy (one point): over a smaller gap the ratio is noise.
constexpr double kMinRecoveryGap = 0.01;
std::optional<double> recovery_of(double before, double after, double oracle);

// One finished cell of a sweep: a network trained at `assumed_level` (and its oracle, trained at
// `true_level`) run on a device with noise `true_level` times the grid's pattern, fine-tuned by
// `method`. Accuracy intervals are Monte-Carlo 95% intervals over noise draws.
struct SweepRow {
  std::string key;           // cell_key(grid, assumed, true, seed, method); the cell's identity
  std::string grid;          // name of the noise pattern
  double assumed_level = 0;  // JSON "assumed": noise the network was trained at
  double true_level = 0;     // JSON "true": noise of the device
  uint64_t seed = 0;
  std::string method;  // none, gift, diff, hil, retrain (others are kept, and sorted last)
  std::string dataset;
  double acc_before = 0;  // network trained at assumed_level, before fine-tuning
  Interval acc_before_ci;
  double acc_after = 0;
  Interval acc_after_ci;
  double acc_oracle = 0;  // network trained at true_level, on the same device
  Interval acc_oracle_ci;
  double relative_improvement = 0;  // (after - before) / before; NaN (JSON null) if before == 0
  std::optional<double>
      recovery;               // (after - before) / (oracle - before); null below kMinRecoveryGap
  int64_t device_passes = 0;  // samples sent through the device
  int64_t device_programmings = 0;
  int64_t sample_gradients = 0;  // digital cost: per-sample gradients computed
  double digital_seconds = 0;
  bool accepted = false;  // the method's result was kept (not the start)
};

// The identity of a cell, "grid|assumed|true|seed|method" with levels as level_label: the key
// `gift sweep` writes and resumes by.
std::string cell_key(const std::string& grid, double assumed, double truth, uint64_t seed,
                     const std::string& method);

// Parses one row. Requires every field above (recovery and relative_improvement may be null),
// and a key equal to cell_key of the row's fields; ignores unknown fields.
// Throws InputError naming the missing or bad field, what was expected and what was found.
SweepRow row_from_json(const nlohmann::json& j);

// The one writer of a row, and the inverse of row_from_json (same field names; "recovery": null
// when absent; a relative_improvement that is not finite is null).
nlohmann::json row_to_json(const SweepRow& row);

// The one reader of results.jsonl text, used by `gift sweep` (to resume) and `gift report`:
// one JSON object per line (row_from_json), in file order. Blank lines (empty, or only spaces,
// tabs and carriage returns) are skipped; a final line without a trailing newline (a sweep
// killed mid-write; it may be cut anywhere, even into valid JSON) is ignored, and the sweep
// drops it before appending; of rows with the same key the first is kept. Any other malformed
// line throws InputError("'<path>' line <n>: ...") on one line; `path` only labels messages.
std::vector<SweepRow> parse_results(const std::string& text, const std::string& path);

// parse_results of the file at `path`; also throws InputError naming `path` if it cannot be read.
std::vector<SweepRow> read_results(const std::string& path);

}  // namespace gift::experiment

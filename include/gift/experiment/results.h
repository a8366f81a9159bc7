// The one row model of a study (SPEC.md §5, issue 22). A study is a grid of cells over named
// axes; `gift sweep` (over noise pattern, assumed and true level, seed, method) and `gift
// frontier` (over seed, method and budget rung) are two configurations of it. Each finished cell
// is one StudyRow, appended to the study's rows file (DIR/results.jsonl of a sweep,
// DIR/frontier.jsonl of a frontier) by row_to_json, the one writer, and read back (to resume,
// and by `gift report` / write_frontier_report) by parse_results / read_results, the one reader.
//
// Levels ("assumed", "true") are multipliers of the grid's noise pattern, plain numbers >= 0;
// accuracies are fractions in [0, 1].
//
// A new axis: a field of StudyRow among the axes, its JSON name in row_to_json and row_from_json
// (with the value old rows, which lack it, read as), and a part of study_key; then the driver
// that varies it sets it. Nothing else here changes.
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
// (after - before) / before; NaN (JSON null) if before == 0.
double relative_improvement_of(double before, double after);

// A budget rung: per-sample gradients (digital cost) and device passes (samples through the
// chip, calibration included) a method may spend. {0, 0}: unbudgeted (every sweep cell, and a
// frontier's start cell).
struct Rung {
  uint64_t gradients = 0;
  uint64_t passes = 0;
  bool operator==(const Rung& o) const { return gradients == o.gradients && passes == o.passes; }
};

// One finished cell of a study: a network trained at `assumed_level` times the grid's pattern
// (and its oracle, trained at the device's noise) run on a device with noise `true_level` times
// the pattern, fine-tuned by `method` within `budget`. A frontier's case is given by its
// config.json (checkpoints and a device noise model), so its rows hold grid "" and levels 0.
// Accuracy intervals are Monte-Carlo 95% intervals over noise draws.
struct StudyRow {
  std::string key;  // study_key(row): the cell's identity within its study folder
  // ---- the axes
  std::string grid;          // name of the noise pattern ("" in a frontier)
  double assumed_level = 0;  // JSON "assumed": noise the network was trained at
  double true_level = 0;     // JSON "true": noise of the device
  uint64_t seed = 0;         // the lab's randomness (calibration images, draws)
  std::string method;        // none, gift, diff, hil, retrain (others are kept, sorted last)
  Rung budget;               // JSON "budget_gradients", "budget_passes"; {0, 0} = unbudgeted
  // ---- recorded with the cell (not part of its identity)
  uint64_t device_seed = 0;  // the chip's seed (a sweep's: sweep_device_seed of the axes)
  std::string dataset;
  // ---- the outcomes
  double acc_before = 0;  // the start network, before fine-tuning
  Interval acc_before_ci;
  double acc_after = 0;
  Interval acc_after_ci;
  double acc_oracle = 0;  // the network trained at the device's noise, on the same device
  Interval acc_oracle_ci;
  double relative_improvement = 0;  // relative_improvement_of(before, after)
  std::optional<double> recovery;   // recovery_of(before, after, oracle); null below the gap
  uint64_t sample_gradients = 0;    // spent: per-sample gradients computed
  uint64_t device_passes = 0;       // spent: samples sent through the device
  uint64_t device_programmings = 0;
  bool accepted = false;        // the method's result was kept (not the start)
  bool budget_limited = false;  // the method stopped at its budget
  double seconds = 0;           // wall time of the cell (timing: differs run to run)
  double digital_seconds = 0;   // time in digital computation (timing)
};

// The identity of a cell: "grid|assumed|true|seed|method|gradients|passes", levels as
// level_label, e.g. "sum_add|0.05|0.5|1|gift|0|0" (a sweep) or "|0|0|1|gift|1000|4000" (a
// frontier). The key the drivers write and resume by.
std::string study_key(const StudyRow& row);

// Parses one row. Requires every field above (recovery and relative_improvement may be null)
// and a key equal to study_key of the row's fields; ignores unknown fields. Also reads the two
// older formats (results.jsonl rows without budget_gradients/budget_passes/budget_limited/
// seconds/device_seed, keyed "grid|assumed|true|seed|method"; frontier.jsonl rows without
// grid/assumed/true/relative_improvement/device_seed, keyed "seed|method|gradients|passes"):
// their missing fields read as 0, "", false or (relative_improvement) computed from the
// accuracies, their key is checked in its old spelling and replaced by study_key.
// Throws InputError naming the missing or bad field, what was expected and what was found.
StudyRow row_from_json(const nlohmann::json& j);

// The one writer of a row, and the inverse of row_from_json (same field names; "recovery": null
// when absent; a relative_improvement that is not finite is null).
nlohmann::json row_to_json(const StudyRow& row);

// The one reader of a rows file's text (results.jsonl, frontier.jsonl), used to resume and to
// report: one JSON object per line (row_from_json), in file order. Blank lines (empty, or only
// spaces, tabs and carriage returns) are skipped; a final line without a trailing newline (a run
// killed mid-write; it may be cut anywhere, even into valid JSON) is ignored, and the run drops
// it before appending; of rows with the same key the first is kept. Any other malformed line
// throws InputError("'<path>' line <n>: ...") on one line; `path` only labels messages.
std::vector<StudyRow> parse_results(const std::string& text, const std::string& path);

// parse_results of the file at `path`; also throws InputError naming `path` if it cannot be read.
std::vector<StudyRow> read_results(const std::string& path);

}  // namespace gift::experiment

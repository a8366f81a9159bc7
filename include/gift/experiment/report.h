// Reports of a misspecification sweep (SPEC.md §5): the rows that `gift sweep` appends to
// DIR/results.jsonl, their aggregation over seeds, and tables and gnuplot figures of the result.
//
//   parse_results / read_results (one SweepRow per finished cell)
//     -> aggregate (one AggregateRow per (grid, assumed, true, method))
//     -> write_tables / format_table / write_figures
//
// Levels ("assumed", "true") are multipliers of the grid's noise pattern ("sum_add": additive sum
// noise with std = level on every layer; other grids are user-defined patterns); here they are
// plain numbers >= 0. Accuracies are fractions in [0, 1]; tables and figures show percent.
// Every file is written atomically (io::write_file_atomic, or a temporary name and a rename).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gift/core/stats.h"

namespace gift::experiment {

// A 95% interval [low, high].
struct Interval {
  double low = 0, high = 0;
};

// One finished cell of a sweep: a network trained at `assumed_level` (and its oracle, trained at
// `true_level`) run on a device with noise `true_level` times the grid's pattern, fine-tuned by
// `method`. Accuracy intervals are Monte-Carlo 95% intervals over noise draws.
// Recovery (after - before) / (oracle - before) is reported only where the oracle beats the
// start by at least this much accuracy (one point): over a smaller gap the ratio is noise.
constexpr double kMinRecoveryGap = 0.01;
std::optional<double> recovery_of(double before, double after, double oracle);

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

// The inverse of row_from_json (same field names; "recovery": null when absent).
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

// Rank of a method in tables and legends: none, gift, diff, hil, retrain = 0..4, others 5.
int method_rank(const std::string& method);

// One (grid, assumed, true, method) cell, over its seeds. Each MeanCI is the mean and t-based 95%
// interval over seeds (mean_ci95). With one seed, the accuracies carry that row's Monte-Carlo
// interval and the other statistics an interval of zero width. `recovery` and
// `relative_improvement` are over the seeds where they are defined; n == 0 (and mean, low, high
// NaN) when defined for none.
struct AggregateRow {
  std::string grid;
  double assumed_level = 0, true_level = 0;
  std::string method;
  std::string dataset;
  int seeds = 0;
  MeanCI acc_before, acc_after, acc_oracle;
  MeanCI relative_improvement;
  MeanCI recovery;
  double device_passes = 0, device_programmings = 0, sample_gradients = 0;  // means over seeds
  double digital_seconds = 0;                                               // mean over seeds
  double accepted_fraction = 0;  // fraction of seeds whose result was accepted
};

// Groups rows by (grid, assumed, true, method), sorted by grid (by name), assumed, true (by value)
// and method (method_rank, then name). Of rows with the same cell and seed, the first is kept.
// Throws InputError if the rows of one cell come from different data sets.
std::vector<AggregateRow> aggregate(const std::vector<SweepRow>& rows);

// The table as CSV: a header row, then one row per aggregate; numbers with enough digits to
// round-trip; an undefined recovery is an empty field.
std::string table_csv(const std::vector<AggregateRow>& rows);

// The table as a JSON array; each statistic is {"mean", "ci": [low, high], "n"}, recovery null
// when undefined.
nlohmann::json table_json(const std::vector<AggregateRow>& rows);

// Writes dir/table.csv and dir/table.json atomically. Throws InputError if it cannot.
void write_tables(const std::string& dir, const std::vector<AggregateRow>& rows);

// A fixed-width text table for the terminal: accuracies in % with intervals, relative
// improvement in %, recovery, device passes, digital seconds. Ends with a newline.
std::string format_table(const std::vector<AggregateRow>& rows);

// `x` as the shortest decimal that reads back as `x`, safe in a file name ("0.1", "3", "1e-05").
std::string level_label(double x);

// Whether a `gnuplot` executable is on the PATH.
bool gnuplot_available();

// Renders with gnuplot, each as PNG and SVG, into `dir`:
//   fig-accuracy-<grid>-a<assumed>: per (grid, assumed), device test accuracy against the true
//     level, one line per method (after fine-tuning; "none" is the start) and the oracle, with
//     shaded 95% bands (error bars when there is one true level); without "none" rows, the start
//     is drawn from acc_before;
//   fig-heatmap-<grid>: per grid with gift rows and >= 2 levels on some axis, gift's mean
//     relative improvement over (assumed, true), values printed in the cells (colour on an
//     asinh scale, so a few % and +100% both show);
//   fig-cost: recovery against device passes (log x), one point per (grid, assumed, true, method)
//     with device passes > 0 and a defined recovery (skipped if there is none).
// Grid names are made file-name safe (characters other than [A-Za-z0-9._-] become '_').
// Also writes the data files (<figure>.dat) and the script (figures.gp; `cd dir && gnuplot
// figures.gp` re-renders). Each figure is rendered to a temporary name and renamed into place.
// Returns the paths written: data files, the script, then the figures.
// Throws InputError("gnuplot not found: install Debian's gnuplot-nox") if gnuplot is not on the
// PATH, and InputError with gnuplot's message if it fails (then no figure is replaced).
std::vector<std::string> write_figures(const std::string& dir,
                                       const std::vector<AggregateRow>& rows);

// ------------------------------------------------------------------ numbers as text

// The shortest "%.{p}g" rendering of x that reads back as x; integers without an exponent
// (65600, not 6.56e+04), and never "-0".
std::string number_text(double x);
// x with `decimals` decimals, and a sign if `sign`; a value that rounds to zero prints as "0.0",
// not "-0.0" or "+0.0".
std::string fixed_text(double x, int decimals, bool sign = false);

// ------------------------------------------------------------------ gnuplot building blocks
// Shared by the sweep's figures (write_figures) and the frontier's (frontier.h).

// A gnuplot single-quoted string literal: gp_quote("it's") == "'it''s'".
std::string gp_quote(const std::string& s);
// A gnuplot double-quoted string literal with "\n" line breaks between `lines`.
std::string gp_lines(const std::vector<std::string>& lines);

// Colour and point type of a method's line in every figure: the Okabe-Ito palette (colour-blind
// safe); none grey squares, gift blue circles, diff orange triangles, hil green diamonds, retrain
// purple triangles down; other names one of three further styles.
struct MethodStyle {
  std::string color;  // "#rrggbb"
  int point;          // gnuplot point type
};
MethodStyle method_style(const std::string& method);

// One figure: its base name (no extension), the contents of its data file (<name>.dat, which
// the commands name) and its gnuplot commands (settings and one plot command, without terminal
// or output).
struct Figure {
  std::string name, data, commands;
};

// Renders `figures` with gnuplot, each as <name>.png and <name>.svg in `dir`: writes the data
// files and the script `script_name` (its first line `comment`; `cd dir && gnuplot <script_name>`
// re-renders), then renders each figure to a temporary name and renames it into place. Returns
// the paths written: data files, the script, then the figures. Throws InputError("gnuplot not
// found: install Debian's gnuplot-nox") if gnuplot is not on the PATH, and InputError with
// gnuplot's message if it fails (then no figure is replaced).
std::vector<std::string> render_figures(const std::string& dir, const std::vector<Figure>& figures,
                                        const std::string& script_name, const std::string& comment);

}  // namespace gift::experiment

// The cost-recovery frontier (SPEC §4, issue 8): every fine-tuning method on one case, over a
// ladder of budgets, so that methods are compared at equal cost. A case is a start network
// (trained at the assumed noise), an oracle (trained at the device's true noise) and a simulated
// device (its true noise, static imperfections and seed). A rung of the ladder is a pair of
// budgets (per-sample gradients, device passes); a cell is (seed, method, rung): the method runs
// from the start on a fresh device within the rung's budgets (FinetuneOptions::budget_*), then
// the device's test accuracy gives the recovery (after - before) / (oracle - before).
//
// A frontier directory holds config.json (the config, the start's training noise and
// fingerprints of the two networks),
// frontier.jsonl (one StudyRow per finished cell, results.h's format, appended and flushed at once;
// per seed one "none" row holds the start, spending nothing), and what write_frontier_report makes
// of it: frontier.md (the table) and, with gnuplot, frontier-gradients.{png,svg} and
// frontier-passes.{png,svg} (recovery against what was spent, log x, the start and the oracle
// marked). Running the same config on the same directory again skips every finished cell.
//
// Seeds vary the lab's randomness (the calibration images, the calibration and the method's
// draws); the device is the same chip for every seed (device.seed). A cell with seed s is the
// run `gift finetune --seed s --device-seed <device.seed>` with the rung's budgets would make.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gift/core/stats.h"
#include "gift/experiment/aggregate.h"
#include "gift/experiment/figures.h"
#include "gift/experiment/results.h"
#include "gift/experiment/sweep.h"
#include "gift/insitu/finetune.h"
#include "gift/onn/imperfections.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"

namespace gift::experiment {

constexpr size_t kMaxFrontierRungs = 64;
constexpr size_t kMaxFrontierSeeds = 100;
constexpr uint64_t kMaxFrontierBudget = uint64_t{1} << 50;  // per budget of a rung

// (1000, 4000) (3000, 4000) (10000, 5000) (30000, 6000) (100000, 10000) (300000, 30000): from a
// thousand gradients to retraining's 300,000; each pass budget above what every method spends
// on calibration and scoring with the default options (1,600 + 2 x 1,000 = 3,600 passes).
std::vector<Rung> default_ladder();
// Three rungs of default_ladder() for a quick look: (1000, 4000) (10000, 5000) (100000, 10000).
std::vector<Rung> quick_ladder();
// Parses "1000:3000,3000:3000" (gradients:passes, comma-separated). Throws InputError naming
// `what` on anything else, a budget of 0 or above kMaxFrontierBudget, or a rung given twice.
std::vector<Rung> parse_ladder(const std::string& text, const std::string& what);
std::string ladder_text(const std::vector<Rung>& ladder);  // the inverse of parse_ladder

struct FrontierConfig {
  // The case. Paths of gift checkpoints; run_frontier(config, case, ...) takes the networks
  // instead, and then both must be empty.
  std::string checkpoint;  // the start: trained at the assumed noise (the checkpoint's)
  std::string oracle;      // trained at the device's true noise; same architecture
  std::string dataset;     // mnist or fashion-mnist; empty: the start checkpoint's
  std::string data_dir;    // default data/<dataset>
  size_t train_limit = 0, test_limit = 0;  // the first N images (0 = all)
  // The simulated device: its true per-pass noise (one entry per layer of the network; no
  // layers = an ideal device), static imperfections, seed, and whether it exposes every
  // layer's sums (hil needs them).
  NoiseModel device_noise;
  Imperfections imperfections;
  uint64_t device_seed = 1;
  bool taps = true;

  std::vector<std::string> methods = {"gift", "hil", "retrain"};  // distinct; not none
  std::vector<Rung> ladder = default_ladder();
  std::vector<uint64_t> seeds = {1};
  // Every method's options; budget_gradients and budget_passes are each rung's, `assumed` the
  // start's training noise, seed and calibration.seed the cell's seed, threads `threads`.
  FinetuneOptions finetune;
  // The lab's labelled images, drawn from the test split per seed (lab_split); every accuracy
  // is measured on the rest of it.
  size_t calib_size = 1000;
  int eval_repeats = 5;  // device passes over the test set per accuracy
  int threads = 0;       // 0 = all cores; never changes a number (not in the JSON)

  // Reads a config; unknown keys are refused, and every value is checked for type and range
  // like SweepConfig::from_json. Throws InputError naming `what` and the key.
  static FrontierConfig from_json(const nlohmann::json& j, const std::string& what);
  nlohmann::json to_json() const;
  // Throws InputError unless every value is in range, methods (gift, diff, hil, retrain), rungs
  // and seeds are distinct and hil has taps. What needs the networks or the data (among it,
  // whether each method accepts the ladder's smallest pass budget) is checked by run_frontier.
  void validate() const;
  // Cells: seeds x (1 + methods x rungs), the start included.
  size_t cells() const;

 private:
  static FrontierConfig parse(const nlohmann::json& j, const std::string& what);
};

// The case as networks in memory (bindings, tests), instead of checkpoint paths.
struct FrontierCase {
  Network start;       // trained at `assumed`
  NoiseModel assumed;  // the start's training noise (the twin's s_hat)
  Network oracle;      // trained at the device's true noise
  std::string dataset = "mnist";
};

// The case of a finished sweep directory `sweep_dir`: the network of `grid` trained at its
// smallest assumed level, on the device of its largest true level (the sweep's chip for that
// level and seed), with the network trained at that level as the oracle; `seed` names the
// networks. The sweep's data, device imperfections, fine-tuning options (retrain at least the
// default epochs, so budgets bind), calib_size and eval_repeats; methods gift, hil, retrain;
// seeds {seed} with `quick` (and quick_ladder()), else the sweep's seeds and default_ladder().
FrontierConfig frontier_of_sweep(const SweepConfig& sweep, const std::string& sweep_dir,
                                 size_t grid, uint64_t seed, bool quick);

// The axes of a frontier cell (the rest of the row empty) and its key (study_key): the case is
// config.json's, so grid "" and levels 0; the start of a seed is method "none" at rung {0, 0}.
StudyRow frontier_cell(uint64_t seed, const std::string& method, const Rung& rung);

struct FrontierTable {
  std::string dataset;
  int seeds = 0;
  Interval start, oracle;  // device test accuracy over seeds
  // A method at a rung over its seeds (aggregate.h; acc_after its accuracy), by method
  // (method_rank), then rung order.
  std::vector<AggregateRow> points;
};

// Aggregates rows (of one frontier) in the order of `config`: its methods and ladder. Rows of
// cells outside the config are ignored; cells without a row are left out.
FrontierTable aggregate_frontier(const std::vector<StudyRow>& rows, const FrontierConfig& config);

// frontier.md: a title, the case, the start and oracle accuracies, then a Markdown table with a
// row for the start, one per method and rung (budgets, gradients and passes spent, accuracy,
// recovery, accepted and budget-limited seeds, seconds) and one for the oracle.
// `assumed` is the start's training noise (for the description of the case).
std::string frontier_markdown(const FrontierTable& table, const FrontierConfig& config,
                              const NoiseModel& assumed);

// The two figures (their data and gnuplot commands, for render_figures): frontier-gradients
// (recovery against per-sample gradients spent) and frontier-passes (against device passes),
// log x, a line with points per method, dashed lines at the start (0) and the oracle (1). Where
// no recovery is defined (the oracle does not beat the start by kMinRecoveryGap), the y axis is
// the accuracy instead, with the start and oracle accuracies marked.
std::vector<Figure> frontier_figures(const FrontierTable& table, const FrontierConfig& config,
                                     const NoiseModel& assumed);

struct FrontierCallbacks {
  std::function<void(const std::string& line)> log;  // one line per event (each finished cell)
  std::function<void(size_t done, size_t total, double eta_s)> progress;
};

struct FrontierSummary {
  size_t cells_total = 0, cells_skipped = 0, cells_run = 0;
  double seconds = 0;
};

// Runs (or resumes) the frontier of `config` in `dir`. Everything checkable is checked before
// the first file is created: the config, the networks (same architecture; the device's noise
// has their layers), the data (present, images as wide as the network's inputs, classes <= its
// outputs, calib_size < test images), the fine-tuning options, every method's acceptance of
// the ladder's smallest pass budget (a method refuses a budget below what it spends on
// calibration and scoring: asked of the method itself, on a chip that stops it at its first
// use), an existing config.json (it must match: otherwise another directory is needed) and
// frontier.jsonl. Then `dir` is
// created with its parents, and cells run in order: per seed the start, then per rung each
// method; each finished cell's row is appended by one write. If the run then fails while the
// directory holds no finished row, whatever this run created is removed again.
FrontierSummary run_frontier(const FrontierConfig& config, const std::string& dir,
                             const FrontierCallbacks& callbacks = {});
// The same with the networks in memory (config.checkpoint and config.oracle must be empty;
// config.dataset, if empty, is the case's).
FrontierSummary run_frontier(const FrontierConfig& config, const FrontierCase& frontier_case,
                             const std::string& dir, const FrontierCallbacks& callbacks = {});

// Reads dir/config.json and dir/frontier.jsonl (as run_frontier wrote them), writes
// dir/frontier.md (atomically) and, if `figures`, the figures (render_figures: frontier-*.dat,
// frontier.gp, frontier-*.{png,svg}). Returns the paths written. The table is written first:
// without gnuplot it is there when render_figures' InputError ("gnuplot not found: install
// Debian's gnuplot-nox") is thrown. Throws InputError if `dir` holds no finished cell.
std::vector<std::string> write_frontier_report(const std::string& dir, bool figures);

}  // namespace gift::experiment

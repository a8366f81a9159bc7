// The misspecification study (SPEC §5): a grid of (noise grid, assumed level, true level,
// seed, method) cells. Each grid is a noise *pattern* (a NoiseModel shape) and lists of
// levels; "assumed a" means the network was trained under pattern × a, "true t" that the
// device's per-pass noise is pattern × t. The oracle of a cell is the network trained at
// pattern × t, evaluated on the same device.
//
// A sweep directory holds config.json, models/ (one trained network per (grid, level,
// seed), resumable) and results.jsonl (one JSON line per finished cell, appended and
// flushed at once). Running the same config on the same directory again skips every
// finished cell, so an interrupted sweep resumes without recomputing one. Cells are
// independent and self-describing, and their numbers do not depend on --jobs.
//
// In parts: SweepConfig (sweep_config.cc: its JSON, validate, the reproduce preset); planning
// (plan_cells, sweep_model_path, sweep_device_seed); the pool that trains the networks the
// remaining cells need; run_cell, one cell to one row (results.h's StudyRow, written by
// row_to_json); and run_sweep, which runs them around the results file on one machine. Its
// pieces (checks, training one network, running one cell, appending a row) are sweep_plan.h's
// SweepPlan, which a driver across machines (the CLI's MPI backend) shares.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gift/experiment/results.h"
#include "gift/insitu/finetune.h"
#include "gift/onn/imperfections.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"

namespace gift::experiment {

// Limits of a sweep (SweepConfig::validate refuses more, naming the count). The grid's size is
// computed as a product before anything is enumerated or created.
constexpr uint64_t kMaxSweepCells = 1'000'000;  // cells: grid x assumed x true x seed x method
constexpr uint64_t kMaxSweepNetworks = 10'000;  // networks trained: grid x level x seed
constexpr int kMaxSweepEpochs = 100'000;        // train.epochs, finetune.(retrain_)epochs
constexpr int kMaxSweepBatch = 65'536;          // train.batch_size, finetune.batch_size
constexpr int kMaxSweepRepeats = 10'000;        // eval_repeats, score_repeats, calib_repeats
constexpr int kMaxSweepCalibSize = 10'000'000;  // calib_size (also <= the training images)
constexpr size_t kMaxGridNameLength = 64;       // characters of [A-Za-z0-9._-]

struct GridSpec {
  std::string name;             // e.g. "sum_add", "weight", "combined": 1-64 of [A-Za-z0-9._-]
  NoiseModel pattern;           // per-layer shape; levels multiply it
  std::vector<double> assumed;  // training levels
  std::vector<double> truth;    // device levels
};

struct SweepConfig {
  std::string dataset = "mnist";
  std::string data_dir;  // default data/<dataset>
  std::string arch = kDefaultArchitecture;
  std::string activation = "relu";
  std::string chain = "physical";  // the signal chain (onn/network.h): physical or legacy
  double w_max = 1.0;
  int train_epochs = 20, train_batch = 128;
  double train_lr = 1e-3;
  size_t train_limit = 0, test_limit = 0;  // 0 = all
  std::vector<GridSpec> grids;
  std::vector<uint64_t> seeds = {1};
  std::vector<std::string> methods = {"none", "gift", "hil", "retrain"};
  FinetuneOptions finetune;
  size_t calib_size = 1000;
  int eval_repeats = 5;
  Imperfections imperfections;

  // Reads a config (parsed with io::parse_json). Every key is checked for its type and range:
  // integers must be integers (an integral float such as 2.0 counts) in range, numbers finite,
  // names strings. Throws InputError naming `what`, the bad key, what was expected and what
  // was found; unknown keys are refused.
  static SweepConfig from_json(const nlohmann::json& j, const std::string& what);
  nlohmann::json to_json() const;
  // Throws InputError unless every value is in range, the grid is within the limits above,
  // levels (by level_label), seeds, methods and grid names are distinct, and every grid's
  // pattern at every level is a valid noise model. What needs the data (image width, classes,
  // calib_size <= training images) is checked by run_sweep.
  void validate() const;
  Architecture architecture() const;

 private:
  static SweepConfig parse_config(const nlohmann::json& j, const std::string& what);
};

// The paper's experiment as a preset: MNIST (or Fashion-MNIST), the default network,
// additive detector noise and weight noise grids. `quick`: a reduced scale that finishes in
// about five minutes on two cores.
SweepConfig reproduce_preset(bool quick, const std::string& dataset);

struct SweepCallbacks {
  std::function<void(const std::string& line)> log;  // one line per event
  std::function<void(size_t done, size_t total, double eta_s)> progress;
};

struct SweepSummary {
  size_t cells_total = 0, cells_skipped = 0, cells_run = 0;
  size_t models_needed = 0;   // networks the remaining cells use
  size_t models_trained = 0;  // of those, trained (or finished) in this run
  double seconds = 0;
};

// The checkpoint run_sweep trains in the sweep directory `dir` for (grid, level, seed): the
// network trained under the grid's pattern x level, with that seed
// (dir/models/<grid>-l<level_label(level)>-s<seed>.safetensors). The assumed level of a cell
// names its start, the true level its oracle.
std::string sweep_model_path(const std::string& dir, const std::string& grid, double level,
                             uint64_t seed);

// The seed of the simulated device of the cells (grid, true level, seed): one chip (fixed errors
// and noise stream) for every assumed level and method of that true level and seed.
uint64_t sweep_device_seed(const std::string& grid, double truth, uint64_t seed);

// One cell of a sweep: (grid, assumed level, true level, seed, method) and its identity.
struct SweepCell {
  size_t grid = 0;  // index into SweepConfig::grids
  double assumed = 0, truth = 0;
  uint64_t seed = 0;
  std::string method;
  std::string key;  // sweep_cell_key(grids[grid].name, assumed, truth, seed, method)
};

// The key (study_key) of a sweep cell: unbudgeted, so "grid|assumed|true|seed|method|0|0".
std::string sweep_cell_key(const std::string& grid, double assumed, double truth, uint64_t seed,
                           const std::string& method);

// Every cell of `config`, in the fixed order run_sweep runs them: by grid, assumed level, true
// level, seed and method, each in the config's order.
std::vector<SweepCell> plan_cells(const SweepConfig& config);

// Runs one cell and returns its row: measures `start` (the network trained at the cell's assumed
// level and seed, sweep_model_path) and `oracle` (trained at its true level) on a simulated
// device of the true level (seeded by sweep_device_seed), fine-tunes a copy of `start` with the
// cell's method on `lab.calib` (and `train`, per finetune.fit_data) and measures it again; every
// accuracy over `lab.eval`. `lab` is lab_split of the (test_limit-cut) test split with
// calib_size and the cell's seed; `train` the (train_limit-cut) training split.
// This is the unit of work a distributed backend calls: single-threaded, independent of every
// other cell and of where it runs, so its row is the same on any machine given the same networks
// and data. Throws InputError from the method (a bad option, an infeasible budget).
StudyRow run_cell(const SweepConfig& config, const SweepCell& cell, const Network& start,
                  const Network& oracle, const LabSplit& lab, const data::Dataset& train);

// Runs (or resumes) the sweep in `dir` with `jobs` parallel workers (0 = cores).
// Refuses a directory whose config.json differs from `config`. Stops early, leaving a
// resumable directory, after `max_cells` new cells if max_cells > 0.
// Everything checkable is checked before the first file is created: the config, the existing
// config.json and results.jsonl (parse_results, the reader `gift report` uses), the data (its
// presence, image width = the network's inputs, classes <= its outputs, calib_size <= the
// training images). Then `dir` is created with its parents. If the run then fails (throws)
// while `dir` holds no finished work (no result row, no model file), whatever this run created
// is removed again; what a previous run made is never removed. A cell is either finished (its
// row appended by one write) or not started; a model checkpoint is written atomically.
SweepSummary run_sweep(const SweepConfig& config, const std::string& dir, int jobs,
                       const SweepCallbacks& callbacks = {}, size_t max_cells = 0);

}  // namespace gift::experiment

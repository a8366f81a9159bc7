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
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gift/insitu/finetune.h"
#include "gift/onn/imperfections.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"

namespace gift::experiment {

struct GridSpec {
  std::string name;             // e.g. "sum_add", "weight", "combined" (file-name safe)
  NoiseModel pattern;           // per-layer shape; levels multiply it
  std::vector<double> assumed;  // training levels
  std::vector<double> truth;    // device levels
};

struct SweepConfig {
  std::string dataset = "mnist";
  std::string data_dir;  // default data/<dataset>
  std::string arch = "784-256-128-64-32-10";
  std::string activation = "relu";
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

  // Throws InputError naming `what` and the bad key.
  static SweepConfig from_json(const nlohmann::json& j, const std::string& what);
  nlohmann::json to_json() const;
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
  std::function<void(const std::string& line)> log;                 // one line per event
  std::function<void(size_t done, size_t total, double eta_s)> progress;
};

struct SweepSummary {
  size_t cells_total = 0, cells_skipped = 0, cells_run = 0;
  size_t models_needed = 0;   // networks the remaining cells use
  size_t models_trained = 0;  // of those, trained (or finished) in this run
  double seconds = 0;
};

// Runs (or resumes) the sweep in `dir` with `jobs` parallel workers (0 = cores).
// Refuses a directory whose config.json differs from `config`. Stops early, leaving a
// resumable directory, after `max_cells` new cells if max_cells > 0.
SweepSummary run_sweep(const SweepConfig& config, const std::string& dir, int jobs,
                       const SweepCallbacks& callbacks = {}, size_t max_cells = 0);

}  // namespace gift::experiment

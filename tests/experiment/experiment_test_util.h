// What the experiment tests (tests/experiment/) and the CLI tests of sweep, frontier and report
// (tests/cli/) share: a tiny synthetic data set, the small sweep config, reading a results file
// back, and hand-made sweep rows with known numbers. (TempDir, read_text, write_text and the
// error matchers are tests/test_util.h's.)
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "../cli/cli_test_util.h"
#include "gift/experiment/report.h"

namespace gift::experiment::test_util {

// ------------------------------------------------------------------ data and config

// The tiny data set of the sweep and frontier tests in `dir` (created if missing): synthetic
// images of side x side pixels (cli_test_util.h), 300 training and 200 test images.
inline void write_tiny_data(const std::string& dir, uint32_t side = 4) {
  std::filesystem::create_directories(dir);
  gift::test_util::write_synthetic_split(dir, "train", 300, 1, side);
  gift::test_util::write_synthetic_split(dir, "t10k", 200, 2, side);
}

// 2 assumed x 3 true x 2 seeds x 3 methods = 36 cells, 6 networks, on the tiny data set in
// `data_dir`, each network trained `epochs` epochs.
inline nlohmann::json small_sweep_config(const std::string& data_dir, int epochs) {
  nlohmann::json j = nlohmann::json::parse(R"({
    "dataset": "mnist", "arch": "16-12-10", "activation": "relu",
    "train": {"batch_size": 20, "lr": 0.02},
    "grids": [{"site": "sum_add", "assumed": [0.05, 0.5], "true": [0.05, 0.5, 1.0]}],
    "seeds": [1, 2], "methods": ["none", "gift", "hil"],
    "finetune": {"epochs": 3, "calib_size": 100, "calib_inputs": 20, "calib_repeats": 4},
    "eval_repeats": 2})");
  j["train"]["epochs"] = epochs;
  j["data_dir"] = data_dir;
  return j;
}

// ------------------------------------------------------------------ files

// The non-empty lines of the file at `path` (none if it cannot be read).
inline std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Every file and directory under `dir` (paths relative to it); safe while a run writes there.
inline std::set<std::string> files_under(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    names.insert(it->path().string().substr(dir.size() + 1));
  }
  return names;
}

// ------------------------------------------------------------------ made-up sweep rows

// One row of the made-up sweep. The numbers are simple functions of the cell, so a test can
// recompute them: before falls with the true level, each method adds its own gain, and in the
// cell (weight, assumed 1, true 1) seed 2's oracle is below its start (recovery null).
inline StudyRow make_row(const std::string& grid, double assumed, double truth, uint64_t seed,
                         const std::string& method) {
  StudyRow r;
  r.grid = grid;
  r.assumed_level = assumed;
  r.true_level = truth;
  r.seed = seed;
  r.method = method;
  r.key = study_key(r);
  r.dataset = "mnist";
  const double g = grid == "weight" ? 1 : 0, s = static_cast<double>(seed);
  const int m = method_rank(method);
  r.acc_before = 0.90 - 0.05 * truth * (1 - 0.2 * assumed) - 0.01 * g + 0.002 * s;
  r.acc_after = r.acc_before + (m == 0 ? 0.0 : 0.02 * m + 0.003 * s);
  r.acc_oracle = 0.95 - 0.01 * truth + 0.001 * s;
  if (grid == "weight" && assumed == 1 && truth == 1 && seed == 2) {
    r.acc_oracle = r.acc_before - 0.01;
  }
  r.acc_before_ci = {r.acc_before - 0.004, r.acc_before + 0.004};
  r.acc_after_ci = {r.acc_after - 0.005, r.acc_after + 0.006};
  r.acc_oracle_ci = {r.acc_oracle - 0.003, r.acc_oracle + 0.003};
  r.relative_improvement = (r.acc_after - r.acc_before) / r.acc_before;
  if (r.acc_oracle > r.acc_before) {
    r.recovery = (r.acc_after - r.acc_before) / (r.acc_oracle - r.acc_before);
  }
  r.device_passes = m == 0 ? 2000 : m == 1 ? 65600 + 100 * seed : 35600;
  r.device_programmings = m == 3 ? 484 : 34;
  r.sample_gradients = m == 0 ? 0 : 30000;
  r.digital_seconds = 1.0 + 0.5 * s + m;
  r.accepted = m != 0 && seed == 1;
  return r;
}

// 2 grids x 2 assumed x 3 true x `seeds` seeds x 3 methods, in an order that is not the
// report's (methods and levels reversed), so sorting is exercised.
inline std::vector<StudyRow> make_sweep(int seeds = 2) {
  std::vector<StudyRow> rows;
  for (const char* method : {"hil", "gift", "none"}) {
    for (uint64_t seed = 1; seed <= static_cast<uint64_t>(seeds); ++seed) {
      for (const char* grid : {"weight", "sum_add"}) {
        for (double assumed : {1.0, 0.1}) {
          for (double truth : {3.0, 1.0, 0.1}) {
            rows.push_back(make_row(grid, assumed, truth, seed, method));
          }
        }
      }
    }
  }
  return rows;
}

// The rows as results.jsonl text, one object per line, each ending in a newline.
inline std::string to_jsonl(const std::vector<StudyRow>& rows) {
  std::string out;
  for (const StudyRow& r : rows) out += row_to_json(r).dump() + "\n";
  return out;
}

}  // namespace gift::experiment::test_util

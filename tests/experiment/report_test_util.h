// Hand-made sweep rows with known numbers, shared by the report tests and the CLI test.
#pragma once

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "gift/experiment/report.h"

namespace gift::experiment::test_util {

// One row of the made-up sweep. The numbers are simple functions of the cell, so a test can
// recompute them: before falls with the true level, each method adds its own gain, and in the
// cell (weight, assumed 1, true 1) seed 2's oracle is below its start (recovery null).
inline SweepRow make_row(const std::string& grid, double assumed, double truth, uint64_t seed,
                         const std::string& method) {
  SweepRow r;
  r.grid = grid;
  r.assumed_level = assumed;
  r.true_level = truth;
  r.seed = seed;
  r.method = method;
  r.key = grid + "|" + level_label(assumed) + "|" + level_label(truth) + "|" +
          std::to_string(seed) + "|" + method;
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
  r.device_passes = m == 0 ? 2000 : m == 1 ? 65600 + 100 * static_cast<int64_t>(seed) : 35600;
  r.device_programmings = m == 3 ? 484 : 34;
  r.sample_gradients = m == 0 ? 0 : 30000;
  r.digital_seconds = 1.0 + 0.5 * s + m;
  r.accepted = m != 0 && seed == 1;
  return r;
}

// 2 grids x 2 assumed x 3 true x `seeds` seeds x 3 methods, in an order that is not the
// report's (methods and levels reversed), so sorting is exercised.
inline std::vector<SweepRow> make_sweep(int seeds = 2) {
  std::vector<SweepRow> rows;
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
inline std::string to_jsonl(const std::vector<SweepRow>& rows) {
  std::string out;
  for (const SweepRow& r : rows) out += row_to_json(r).dump() + "\n";
  return out;
}

}  // namespace gift::experiment::test_util

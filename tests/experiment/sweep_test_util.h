// The small sweep config shared by the library and CLI sweep tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace gift::test_util {

// 2 assumed x 3 true x 2 seeds x 3 methods = 36 cells, 6 networks, on 4 x 4 synthetic images
// in `data_dir`, each network trained `epochs` epochs.
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

}  // namespace gift::test_util

// Helpers of the checkpoint tests (checkpoint_test.cc, checkpoint_bad_test.cc): a checkpoint
// whose every field differs from its default, and comparisons.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../test_util.h"
#include "gift/core/error.h"
#include "gift/io/checkpoint.h"
#include "gift/io/safetensors.h"

namespace gift::io::checkpoint_test {

namespace fs = std::filesystem;
using nlohmann::json;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// A checkpoint where every field differs from its default: 5-4-3 relu/linear, w_max 0.8,
// different noise per layer and site, SGD with a constant schedule, optimizer moments.
inline Checkpoint make_checkpoint() {
  Checkpoint c;
  c.net = Network(Architecture{{5, 4, 3}, {Activation::kRelu, Activation::kLinear}, 0.8});
  c.net.init(7);
  // Non-zero biases, so a swapped or dropped bias would show.
  for (size_t l = 0; l < c.net.num_layers(); ++l) {
    auto b = c.net.bias(l);
    for (Eigen::Index i = 0; i < b.size(); ++i) b[i] = 0.1f * static_cast<float>(i + 1) - 0.25f;
  }
  c.train.epochs = 7;
  c.train.schedule = LrSchedule::kConstant;
  c.train.batch_size = 32;
  c.train.seed = 0xFEDCBA9876543210ull;  // beyond 2^53: must survive JSON exactly
  c.train.optimizer.kind = OptimizerKind::kSgd;
  c.train.optimizer.lr = 0.0123;
  c.train.optimizer.momentum = 0.8;
  c.train.optimizer.beta1 = 0.85;
  c.train.optimizer.beta2 = 0.995;
  c.train.optimizer.eps = 1e-7;
  c.train.optimizer.weight_decay = 1e-4;
  c.train.noise = NoiseModel::none(2);
  c.train.noise.layers[0] = {0.01, 0.02, 0.03, 0.04};
  c.train.noise.layers[1] = {0.05, 0, 0.1 / 3, 0};
  c.train.noise.output_clip = 2.5;
  c.state.epochs_done = 3;
  const Eigen::Index P = c.net.params().size();
  c.state.optimizer.m.resize(P);
  c.state.optimizer.v.resize(P);
  for (Eigen::Index i = 0; i < P; ++i) {
    c.state.optimizer.m[i] = 1e-3f * static_cast<float>(i) - 0.01f;
    c.state.optimizer.v[i] = 1e-5f * static_cast<float>(i * i) + 1e-9f;
  }
  c.state.optimizer.step = 42;
  c.dataset = "fashion-mnist";
  c.extra["finetune_report"] = "{\"method\":\"perturb\",\"gain\":0.5}";
  c.extra["note"] = "hello, world";
  return c;
}

inline void expect_bitwise_equal(const Vec& a, const Vec& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.size())), 0)
      << what;
}

// Names of the files in dir other than the given ones (e.g. leftover temporaries).
inline std::vector<std::string> others_in(const std::string& dir,
                                          const std::vector<std::string>& keep) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    bool kept = false;
    for (const std::string& k : keep) kept = kept || name == k;
    if (!kept) out.push_back(name);
  }
  return out;
}

}  // namespace gift::io::checkpoint_test

// Helpers shared by the device tests: small networks and batches, and the command lines
// that start the reference server (`gift device-server`) and the Python example server
// with the same chip as a SimulatedDevice.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gift/core/rng.h"
#include "gift/insitu/simulated_device.h"
#include "gift/onn/network.h"

namespace gift::test {

// 6-5-4-3: three layers, so taps hold two hidden sums and the logits' sum.
inline Architecture small_arch(Activation hidden = Activation::kRelu, double w_max = 1.0) {
  return Architecture::from_string("6-5-4-3", hidden, w_max);
}

// He-initialised weights and small non-zero biases, all from `seed`.
inline Network make_net(const Architecture& arch, uint64_t seed) {
  Network net(arch);
  net.init(seed);
  for (size_t l = 0; l < net.num_layers(); ++l) {
    Vec b(net.bias(l).size());
    fill_normal(b.data(), static_cast<size_t>(b.size()),
                RngStream{seed, Purpose::kTest, 7, static_cast<uint32_t>(l)});
    net.bias(l) = 0.1f * b.transpose();
  }
  return net;
}

inline Mat make_inputs(int rows, int cols, uint32_t stream) {
  Mat x(rows, cols);
  fill_normal(x.data(), static_cast<size_t>(x.size()), RngStream{5, Purpose::kTest, stream});
  return x;
}

// Exact decimal form (round-trips through strtod).
inline std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

inline std::string arch_widths(const Architecture& a) {
  std::string s;
  for (size_t i = 0; i < a.sizes.size(); ++i) s += (i ? "-" : "") + std::to_string(a.sizes[i]);
  return s;
}

inline const char* hidden_activation(const Architecture& a) {
  return to_string(a.num_layers() > 1 ? a.activations.front() : Activation::kLinear);
}

// `gift device-server` serving the chip a SimulatedDevice(arch, o) simulates.
inline std::vector<std::string> gift_server_argv(const Architecture& arch,
                                                 const SimulatedDeviceOptions& o) {
  std::vector<std::string> a = {GIFT_BINARY,       "device-server", "--arch",
                                arch_widths(arch), "--activation",  hidden_activation(arch),
                                "--w-max",         num(arch.w_max)};
  if (!o.noise.layers.empty()) {
    const std::pair<const char*, NoiseSite> sites[] = {{"--noise-weight", NoiseSite::kWeight},
                                                       {"--noise-sum-mult", NoiseSite::kSumMult},
                                                       {"--noise-sum-add", NoiseSite::kSumAdd},
                                                       {"--noise-out-add", NoiseSite::kOutAdd}};
    for (const auto& [flag, site] : sites) {
      std::string v;
      for (size_t l = 0; l < o.noise.layers.size(); ++l) {
        v += (l ? "," : "") + num(o.noise.layers[l].at(site));
      }
      a.insert(a.end(), {flag, v});
    }
    a.insert(a.end(), {"--output-clip", num(o.noise.output_clip)});
  }
  a.insert(a.end(), {"--gain-std", num(o.imperfections.gain_std), "--weight-bits",
                     std::to_string(o.imperfections.weight_bits), "--device-seed",
                     std::to_string(o.seed), "--threads", std::to_string(o.threads)});
  if (!o.taps) a.push_back("--no-taps");
  return a;
}

// Whether /usr/bin/python3 with numpy can run the example server here.
inline bool python_numpy_available() {
  static const bool ok = std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") == 0;
  return ok;
}

// examples/device_server.py serving a noiseless chip of `arch`.
inline std::vector<std::string> python_server_argv(const Architecture& arch, bool taps) {
  std::vector<std::string> a = {"/usr/bin/python3", GIFT_SOURCE_DIR "/examples/device_server.py",
                                "--arch",           arch_widths(arch),
                                "--activation",     hidden_activation(arch),
                                "--w-max",          num(arch.w_max)};
  if (!taps) a.push_back("--no-taps");
  return a;
}

// Same shape and the same bits in every element (NaN payloads and -0 included).
inline void expect_bitwise(const Mat& a, const Mat& b, const std::string& what) {
  ASSERT_EQ(a.rows(), b.rows()) << what;
  ASSERT_EQ(a.cols(), b.cols()) << what;
  if (a.size() == 0) return;  // no data pointer to compare
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.size())), 0)
      << what;
}

}  // namespace gift::test

// What the benchmarks share: the noise sites they compare, synthetic MNIST-shaped data, the
// FLOP counts of the default network, and the float-vs-double check every benchmark runs before
// it times anything (STYLE.md: optimized kernels are checked against a reference first).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gift/core/matrix.h"
#include "gift/core/rng.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"

namespace gift::bench {

// One case of a per-site comparison: `name` as bench/run.sh and the PyTorch scripts spell it.
struct Site {
  std::string name;
  NoiseModel noise;
};

// The std every benchmark uses at a noisy site, on every layer.
constexpr double kSiteStd = 0.1;

// The noise of one site name ("none", "weight", "sum_mult", "sum_add", "out_add", or "all":
// every site at once) at kSiteStd on every layer of an L-layer network into *out. Returns false
// on an unknown name.
inline bool site_noise(const std::string& name, size_t L, NoiseModel* out) {
  NoiseModel n = NoiseModel::none(L);
  for (LayerNoise& l : n.layers) {
    if (name == "weight" || name == "all") l.weight = kSiteStd;
    if (name == "sum_mult" || name == "all") l.sum_mult = kSiteStd;
    if (name == "sum_add" || name == "all") l.sum_add = kSiteStd;
    if (name == "out_add" || name == "all") l.out_add = kSiteStd;
    if (name == "physical") {  // thermal, shot and a slow drift (the physical chain's sites)
      l.sum_add = kSiteStd;
      l.shot = kSiteStd / 2;
      l.drift = kSiteStd / 10;
    }
  }
  *out = n;
  return name == "none" || name == "weight" || name == "sum_mult" || name == "sum_add" ||
         name == "out_add" || name == "all" || name == "physical";
}

// Noiseless and each site alone, in the order every report prints them.
inline std::vector<Site> all_sites(size_t L) {
  std::vector<Site> sites;
  for (const char* name : {"none", "weight", "sum_mult", "sum_add", "out_add"}) {
    Site s{name, {}};
    site_noise(name, L, &s.noise);
    sites.push_back(s);
  }
  return sites;
}

// N x 784 pixels in [0, 1] (bytes / 255, like an IDX image) from a fixed stream, and labels
// i mod 10: the shape of MNIST without the data set.
inline Mat synthetic_images(Eigen::Index rows, Eigen::Index cols) {
  Mat x(rows, cols);
  std::vector<uint32_t> bits(static_cast<size_t>(x.size()));
  fill_uint32(bits.data(), bits.size(), RngStream{1, Purpose::kTest, 0, 0, 0});
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    x.data()[i] = static_cast<float>(bits[static_cast<size_t>(i)] >> 24) / 255.0f;
  }
  return x;
}

inline std::vector<int> synthetic_labels(size_t n) {
  std::vector<int> y(n);
  for (size_t i = 0; i < n; ++i) y[i] = static_cast<int>(i % 10);
  return y;
}

// Multiply-adds of one sample through every layer: sum over layers of I * O (244,032 for the
// default network). A forward costs 2 * macs FLOP per sample; a training sample 6 * macs less
// the first layer's input gradient, which nothing needs (2 * I_0 * O_0): 1.06 MFLOP for the
// default network. Weight noise doubles both (the variance product (h⊙h)(W⊙W)ᵀ per layer
// forward, its two transposes backward).
inline double macs_per_sample(const Architecture& arch) {
  double macs = 0;
  for (size_t l = 0; l < arch.num_layers(); ++l) {
    macs += static_cast<double>(arch.sizes[l]) * arch.sizes[l + 1];
  }
  return macs;
}
inline double forward_flop(const Architecture& arch) { return 2 * macs_per_sample(arch); }
inline double train_flop(const Architecture& arch) {
  return 6 * macs_per_sample(arch) - 2.0 * arch.sizes[0] * arch.sizes[1];
}

// ||a - b|| / ||b|| of a float result against its double reference.
template <class Derived, class DerivedD>
double relative_error(const Eigen::MatrixBase<Derived>& a, const Eigen::MatrixBase<DerivedD>& b) {
  const double denom = b.norm();
  const double diff = (a.template cast<double>() - b).norm();
  return denom > 0 ? diff / denom : diff;
}

// Prints "check NAME: WHAT = VALUE (limit LIMIT)" to stderr and exits 1 unless value <= limit
// (a NaN fails): a benchmark whose result is wrong must not report a rate.
inline void check(const std::string& name, const char* what, double value, double limit) {
  const bool ok = value <= limit;
  std::fprintf(stderr, "check %-28s %s = %.2e (limit %.0e) %s\n", name.c_str(), what, value, limit,
               ok ? "ok" : "FAILED");
  if (!ok) {
    std::fprintf(stderr, "%s: check failed: its result differs from the reference; not timed\n",
                 name.c_str());
    std::exit(1);
  }
}

}  // namespace gift::bench

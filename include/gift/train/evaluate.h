// Accuracy under a noise model, Monte-Carlo over noise draws (SPEC §4 reports).
#pragma once

#include <string>
#include <vector>

#include "gift/core/matrix.h"
#include "gift/core/rng.h"
#include "gift/core/stats.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"

namespace gift {

struct EvalOptions {
  NoiseModel noise;  // empty = noiseless
  int repeats = 10;  // Monte-Carlo repeats over the data set (1 when noiseless)
  uint64_t seed = 1;
  int threads = 0;
  // Throws InputError naming the bad option. Changes nothing.
  void validate(const Architecture& arch) const;
  // The noise to evaluate under: `noise`, or zeros on every layer of `arch` when it is empty.
  NoiseModel resolved_noise(const Architecture& arch) const;
};

// The accuracy in [0, 1] (mean, 95% interval, stddev across repeats: over noise draws), the
// loss, and each repeat's accuracy.
struct EvalResult : Interval {
  double loss = 0;                 // mean cross-entropy over all passes
  std::vector<double> accuracies;  // one per repeat
  std::string describe() const;    // "97.31% [97.20, 97.42] (10 draws)"
};

// images: N x I, labels: N. Repeat r uses draws (seed, kEvalNoise, call r, sample i).
EvalResult evaluate(const Network& net, const Mat& images, const std::vector<int>& labels,
                    EvalOptions options);

}  // namespace gift

// Static imperfections of one physical device (SPEC §2), drawn once from the
// device's seed and then fixed: what programming a weight actually sets.
//   clip to [-w_max, w_max] → quantise to 2^bits levels over [-r_l, r_l], where r_l is the
//   layer's largest |weight| (a per-layer DAC range) → gain error W ⊙ (1 + δ), δ ~ N(0, gain_std²).
// Output saturation is a per-pass effect and lives in NoiseModel::output_clip.
#pragma once

#include <cstdint>

#include "gift/onn/network.h"

namespace gift {

struct Imperfections {
  double gain_std = 0;  // s_fab, relative fixed gain error of each weight
  int weight_bits = 0;  // B; 0 = continuous weights
  bool any() const { return gain_std > 0 || weight_bits > 0; }
  // InputError unless gain_std is finite and >= 0 and weight_bits is 0 or in [1, 24].
  void validate(const std::string& what = "imperfections") const;
};

// The weights a device with these imperfections and `seed` holds after programming
// `net` (biases are set exactly). Deterministic in (net, imp, seed).
Network apply_imperfections(const Network& net, const Imperfections& imp, uint64_t seed);

}  // namespace gift

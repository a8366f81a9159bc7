// Static imperfections of one physical device (SPEC §2; docs/model.md, "Static errors of the
// weight bank"), drawn once from the device's seed and then fixed: what programming a weight
// actually sets. Per layer l, on its weight array W (O x I, row-major), in this order:
//   1. clip to [-w_max, w_max];
//   2. quantise (the DAC), if weight_bits B > 0:
//        kLayer: 2^B levels over [-r_l, r_l], r_l the layer's largest |weight| (a full scale that
//                moves with every reprogramming; 0 is not a level);
//        kFixed: 2^B - 1 levels k * step, |k| <= 2^(B-1) - 1, step = 2 w_max / (2^B - 2): a fixed
//                full scale, symmetric and mid-tread (0 is a level; B >= 2);
//   3. thermal crosstalk: W'_ij = W_ij + kappa (W_i,j-1 + W_i,j+1 + W_i-1,j + W_i+1,j), from the
//      weights of step 2 (missing neighbours at the edges count 0), no draws;
//   4. per-weight gain error W_ij *= 1 + gain_std δ_ij     (stream kFabrication, a = l);
//   5. per-row gain error    W_ij *= 1 + row_gain_std r_i  (stream kRowGain, a = l);
//   6. per-column gain error W_ij *= 1 + col_gain_std c_j  (stream kColGain, a = l);
// with δ, r, c standard normal. Biases are set exactly. All-default values leave the (projected)
// weights as they are, and each step at its default draws nothing and changes nothing, so adding
// one never changes the results of the others.
// Output saturation is a per-pass effect and lives in NoiseModel::output_clip.
#pragma once

#include <cstdint>
#include <string>

#include "gift/onn/network.h"

namespace gift {

// The full scale of the weight DAC (see the steps above).
enum class DacScale { kLayer, kFixed };
const char* to_string(DacScale d);  // "layer", "fixed"
// "layer" or "fixed"; throws InputError otherwise.
DacScale parse_dac_scale(const std::string& name);

struct Imperfections {
  double gain_std = 0;      // s_fab, relative fixed gain error of each weight
  int weight_bits = 0;      // B; 0 = continuous weights
  double row_gain_std = 0;  // relative gain error of each output row (a detector / receiver)
  double col_gain_std = 0;  // relative gain error of each input column (a modulator / laser line)
  double crosstalk = 0;     // kappa, nearest-neighbour coupling (dimensionless), in [0, 0.5)
  DacScale dac = DacScale::kLayer;  // the quantiser's full scale (used when weight_bits > 0)
  bool any() const {
    return gain_std > 0 || weight_bits > 0 || row_gain_std > 0 || col_gain_std > 0 || crosstalk > 0;
  }
  // InputError naming the field unless gain_std, row_gain_std and col_gain_std are finite and
  // >= 0, crosstalk is finite and in [0, 0.5), weight_bits is 0 or in [1, 24], and a kFixed DAC
  // has weight_bits 0 or >= 2 (one bit would give the single level 0).
  void validate(const std::string& what = "imperfections") const;
};

// The weights a device with these imperfections and `seed` holds after programming
// `net` (biases are set exactly). Deterministic in (net, imp, seed).
Network apply_imperfections(const Network& net, const Imperfections& imp, uint64_t seed);

}  // namespace gift

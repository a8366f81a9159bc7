#include "gift/onn/imperfections.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <vector>

#include "gift/core/error.h"
#include "gift/core/rng.h"

namespace gift {

void Imperfections::validate(const std::string& what) const {
  if (!std::isfinite(gain_std) || gain_std < 0) {
    std::ostringstream os;
    os << what << ": gain_std must be finite and >= 0, found " << gain_std;
    throw InputError(os.str());
  }
  if (weight_bits < 0 || weight_bits > 24) {
    throw InputError(what + ": weight_bits must be 0 (continuous) or in [1, 24], found " +
                     std::to_string(weight_bits));
  }
}

Network apply_imperfections(const Network& net, const Imperfections& imp, uint64_t seed) {
  imp.validate();
  Network out = net;
  out.project();
  for (size_t l = 0; l < out.num_layers(); ++l) {
    Eigen::Map<MatT<float>> w = out.weight(l);
    if (imp.weight_bits > 0) {
      const double range = w.cwiseAbs().maxCoeff();
      if (range > 0) {
        const double levels = std::ldexp(1.0, imp.weight_bits) - 1;  // steps across [-r, r]
        const double step = 2 * range / levels;
        for (Eigen::Index i = 0; i < w.size(); ++i) {
          const double k = std::round((w.data()[i] + range) / step);
          w.data()[i] = static_cast<float>(-range + k * step);
        }
      }
    }
    if (imp.gain_std > 0) {
      std::vector<float> delta(static_cast<size_t>(w.size()));
      fill_normal(delta.data(), delta.size(),
                  RngStream{seed, Purpose::kFabrication, static_cast<uint32_t>(l), 0, 0});
      for (Eigen::Index i = 0; i < w.size(); ++i) {
        w.data()[i] *= 1.0f + static_cast<float>(imp.gain_std) * delta[static_cast<size_t>(i)];
      }
    }
  }
  return out;
}

}  // namespace gift

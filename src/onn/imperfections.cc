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

nlohmann::json imperfections_to_json(const Imperfections& imp) {
  return {{"gain_std", imp.gain_std}, {"weight_bits", imp.weight_bits}};
}

Imperfections imperfections_from_json(const nlohmann::json& j, const std::string& what) {
  Imperfections imp;
  if (!j.is_object()) throw InputError(what + ": expected a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "gain_std" && it.key() != "weight_bits") {
      throw InputError(what + ": unknown key '" + it.key() + "' (expected gain_std, weight_bits)");
    }
  }
  if (j.contains("gain_std")) {
    if (!j["gain_std"].is_number()) throw InputError(what + ": gain_std must be a number");
    imp.gain_std = j["gain_std"].get<double>();
  }
  if (j.contains("weight_bits")) {
    if (!j["weight_bits"].is_number_integer()) {
      throw InputError(what + ": weight_bits must be an integer");
    }
    // Read wide first: get<int>() would wrap 2^32 + 3 to 3.
    const int64_t bits =
        j["weight_bits"].is_number_unsigned()
            ? static_cast<int64_t>(std::min<uint64_t>(j["weight_bits"].get<uint64_t>(), INT64_MAX))
            : j["weight_bits"].get<int64_t>();
    if (bits < 0 || bits > 24) {
      throw InputError(what + ": weight_bits must be 0 (continuous) or in [1, 24], found " +
                       std::to_string(bits));
    }
    imp.weight_bits = static_cast<int>(bits);
  }
  imp.validate(what);
  return imp;
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

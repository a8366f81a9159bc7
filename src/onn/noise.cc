#include "gift/onn/noise.h"

#include <cmath>
#include <sstream>

#include "gift/core/error.h"

namespace gift {

const char* to_string(NoiseSite site) {
  switch (site) {
    case NoiseSite::kWeight:
      return "weight";
    case NoiseSite::kSumMult:
      return "sum_mult";
    case NoiseSite::kSumAdd:
      return "sum_add";
    case NoiseSite::kOutAdd:
      return "out_add";
  }
  throw InternalError("unknown noise site");
}

NoiseSite parse_noise_site(const std::string& name) {
  for (int s = 0; s < kNumNoiseSites; ++s) {
    if (name == to_string(static_cast<NoiseSite>(s))) return static_cast<NoiseSite>(s);
  }
  throw InputError("unknown noise site '" + name +
                   "': expected weight, sum_mult, sum_add or out_add");
}

double& LayerNoise::at(NoiseSite site) {
  switch (site) {
    case NoiseSite::kWeight:
      return weight;
    case NoiseSite::kSumMult:
      return sum_mult;
    case NoiseSite::kSumAdd:
      return sum_add;
    case NoiseSite::kOutAdd:
      return out_add;
  }
  throw InternalError("unknown noise site");
}

double LayerNoise::at(NoiseSite site) const { return const_cast<LayerNoise*>(this)->at(site); }

NoiseModel NoiseModel::none(size_t num_layers) {
  NoiseModel m;
  m.layers.resize(num_layers);
  return m;
}

NoiseModel NoiseModel::uniform(size_t num_layers, NoiseSite site, double std) {
  NoiseModel m = none(num_layers);
  for (LayerNoise& l : m.layers) l.at(site) = std;
  return m;
}

bool NoiseModel::any() const {
  for (const LayerNoise& l : layers) {
    if (l.any()) return true;
  }
  return false;
}

void NoiseModel::validate(size_t num_layers, const std::string& what) const {
  if (layers.size() != num_layers) {
    throw InputError(what + ": expected noise for " + std::to_string(num_layers) +
                     " layers, found " + std::to_string(layers.size()));
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    for (int s = 0; s < kNumNoiseSites; ++s) {
      const double v = layers[l].at(static_cast<NoiseSite>(s));
      if (!std::isfinite(v) || v < 0) {
        std::ostringstream os;
        os << what << ": std of " << to_string(static_cast<NoiseSite>(s)) << " on layer " << l
           << " must be finite and >= 0, found " << v;
        throw InputError(os.str());
      }
    }
  }
  if (!std::isfinite(output_clip) || output_clip < 0) {
    std::ostringstream os;
    os << what << ": output_clip must be finite and >= 0 (0 = none), found " << output_clip;
    throw InputError(os.str());
  }
}

NoiseModel NoiseModel::scaled(double factor) const {
  NoiseModel m = *this;
  for (LayerNoise& l : m.layers) {
    for (int s = 0; s < kNumNoiseSites; ++s) l.at(static_cast<NoiseSite>(s)) *= factor;
  }
  return m;
}

std::string NoiseModel::describe() const {
  // Anything but an exact 0 is shown (NaN included), so that "noiseless" is never said of
  // a model that holds NaN: an estimate made from broken data must not read as an ideal chip.
  std::ostringstream os;
  bool first = true;
  for (int s = 0; s < kNumNoiseSites; ++s) {
    const NoiseSite site = static_cast<NoiseSite>(s);
    bool any = false, same = true;
    for (const LayerNoise& l : layers) {
      any = any || l.at(site) != 0;
      same = same && l.at(site) == layers.front().at(site);
    }
    if (!any) continue;
    if (!first) os << ' ';
    first = false;
    os << to_string(site) << '=';
    if (same) {
      os << layers.front().at(site);
    } else {
      os << '[';
      for (size_t l = 0; l < layers.size(); ++l) os << (l ? "," : "") << layers[l].at(site);
      os << ']';
    }
  }
  if (output_clip != 0) os << (first ? "" : " ") << "clip=" << output_clip;
  if (first && output_clip == 0) return "noiseless";
  return os.str();
}

}  // namespace gift

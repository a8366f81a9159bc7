#include "gift/onn/noise.h"

#include <cmath>
#include <sstream>

#include "gift/core/error.h"
#include "gift/core/parse.h"

namespace gift {

const std::array<NoiseSiteInfo, kNumNoiseSites>& noise_sites() {
  // Stream ids 0..3 are the words the draws have always used; never renumber them.
  static const std::array<NoiseSiteInfo, kNumNoiseSites> sites = {{
      {NoiseSite::kWeight, "weight", "weight", "multiplicative weight noise std s_w", true, 0,
       &LayerNoise::weight},
      {NoiseSite::kSumMult, "sum_mult", "sum-mult", "multiplicative sum noise std s_m", true, 1,
       &LayerNoise::sum_mult},
      {NoiseSite::kSumAdd, "sum_add", "sum-add", "additive sum (detector) noise std s_a", false, 2,
       &LayerNoise::sum_add},
      {NoiseSite::kOutAdd, "out_add", "out-add", "additive output noise std s_o", false, 3,
       &LayerNoise::out_add},
      {NoiseSite::kShot, "shot", "shot",
       "detector shot noise: std s_sh sqrt(P), P the power on the balanced pair", false, 4,
       &LayerNoise::shot},
      {NoiseSite::kRin, "rin", "rin", "laser relative intensity noise on each arm's power", true, 5,
       &LayerNoise::rin},
      {NoiseSite::kWeightAdd, "weight_add", "weight-add",
       "additive transmission noise std s_t (nonzero at a zero weight)", false, 6,
       &LayerNoise::weight_add},
      {NoiseSite::kInAdd, "in_add", "in-add", "input modulator intensity noise std s_in", false, 7,
       &LayerNoise::in_add},
      {NoiseSite::kDrift, "drift", "drift",
       "slow relative gain drift std s_d, one draw per forward call", true, 8, &LayerNoise::drift},
  }};
  return sites;
}

const NoiseSiteInfo& site_info(NoiseSite site) {
  const int i = site_index(site);
  if (i < 0 || i >= kNumNoiseSites) throw InternalError("unknown noise site");
  return noise_sites()[i];
}

const char* to_string(NoiseSite site) { return site_info(site).name; }

std::string noise_site_names(const std::string& last_sep) {
  std::vector<std::string> names;
  for (const NoiseSiteInfo& info : noise_sites()) names.push_back(info.name);
  return join_names(names, last_sep);
}

NoiseSite parse_noise_site(const std::string& name) {
  for (const NoiseSiteInfo& info : noise_sites()) {
    if (name == info.name) return info.site;
  }
  throw InputError("unknown noise site '" + name + "': expected " + noise_site_names(" or "));
}

uint32_t noise_stream_word(size_t layer, uint32_t stream_id) {
  if (stream_id < 4) return static_cast<uint32_t>(layer * 4 + stream_id);
  if (stream_id >= 2048 || layer >= (size_t{1} << 20)) {
    throw InternalError("noise_stream_word: stream id or layer out of range");
  }
  return 0x80000000u | (stream_id << 20) | static_cast<uint32_t>(layer);
}

double& LayerNoise::at(NoiseSite site) { return this->*site_info(site).member; }

double LayerNoise::at(NoiseSite site) const { return this->*site_info(site).member; }

bool LayerNoise::any() const {
  for (const NoiseSiteInfo& info : noise_sites()) {
    if (this->*info.member > 0) return true;
  }
  return false;
}

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
    for (const NoiseSiteInfo& info : noise_sites()) {
      const double v = layers[l].*info.member;
      if (!std::isfinite(v) || v < 0) {
        std::ostringstream os;
        os << what << ": std of " << info.name << " on layer " << l
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

NoiseModel noise_preset(const std::string& name, size_t num_layers) {
  if (name == "soa") {
    NoiseModel m = NoiseModel::none(num_layers);
    for (LayerNoise& l : m.layers) {
      l.sum_add = 0.1;  // receiver thermal noise, the study's baseline level
      l.shot = 0.01;    // shot: a third of thermal at ~10 units of detected power
      l.rin = 0.01;     // laser RIN -140 dB/Hz over 10 GHz: sqrt(1e-14 * 1e10)
      l.weight = 0.01;  // SOA signal-ASE beat noise at ~40 dB SNR on each weighted channel
    }
    return m;
  }
  throw InputError("unknown noise preset '" + name + "': expected " + noise_preset_names());
}

std::string noise_preset_names() { return "soa"; }

NoiseModel NoiseModel::scaled(double factor) const {
  NoiseModel m = *this;
  for (LayerNoise& l : m.layers) {
    for (const NoiseSiteInfo& info : noise_sites()) l.*info.member *= factor;
  }
  return m;
}

std::string NoiseModel::describe() const {
  // Anything but an exact 0 is shown (NaN included), so that "noiseless" is never said of
  // a model that holds NaN: an estimate made from broken data must not read as an ideal chip.
  std::ostringstream os;
  bool first = true;
  for (const NoiseSiteInfo& info : noise_sites()) {
    const NoiseSite site = info.site;
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

#include "gift/io/model_json.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "gift/core/error.h"
#include "gift/io/json.h"

namespace gift::io {

nlohmann::json arch_to_json(const Architecture& a) {
  std::vector<std::string> acts;
  for (Activation x : a.activations) acts.push_back(to_string(x));
  return {
      {"sizes", a.sizes}, {"activations", acts}, {"w_max", a.w_max}, {"chain", to_string(a.chain)}};
}

Architecture arch_from_json(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object() || !j.contains("sizes") || !j["sizes"].is_array() ||
      !j.contains("activations") || !j["activations"].is_array() || !j.contains("w_max") ||
      !j["w_max"].is_number()) {
    throw InputError(what +
                     ": expected {\"sizes\": [...], \"activations\": [...], \"w_max\": number}");
  }
  Architecture a;
  for (const nlohmann::json& s : j["sizes"]) {
    // Checked wide first: get<int>() would wrap 2^32 + 5 to 5.
    const bool fits =
        s.is_number_unsigned()
            ? s.get<uint64_t>() >= 1 && s.get<uint64_t>() <= (1u << 20)
            : s.is_number_integer() && s.get<int64_t>() >= 1 && s.get<int64_t>() <= (1 << 20);
    if (!fits) {
      throw InputError(what + ": widths must be integers in [1, 2^20], found " + json_excerpt(s));
    }
    a.sizes.push_back(s.get<int>());
  }
  for (const nlohmann::json& s : j["activations"]) {
    if (!s.is_string()) {
      throw InputError(what + ": activations must be strings, found " + json_excerpt(s));
    }
    try {
      a.activations.push_back(parse_activation(s.get_ref<const std::string&>()));
    } catch (const InputError&) {
      throw InputError(what + ": unknown activation " + json_excerpt(s) +
                       ": expected linear, relu, sigmoid or tanh");
    }
  }
  a.w_max = j["w_max"].get<double>();
  // Files written before the physical chain carry no "chain": they hold legacy networks.
  a.chain = Chain::kLegacy;
  if (j.contains("chain")) {
    if (!j["chain"].is_string()) throw InputError(what + ": chain must be a string");
    try {
      a.chain = parse_chain(j["chain"].get<std::string>());
    } catch (const InputError& e) {
      throw InputError(what + ": " + e.what());
    }
  }
  try {
    a.validate();
  } catch (const InputError& e) {
    throw InputError(what + ": " + e.what());
  }
  return a;
}

nlohmann::json noise_to_json(const NoiseModel& noise) {
  nlohmann::json j;
  for (const NoiseSiteInfo& site : noise_sites()) {
    std::vector<double> v;
    for (const LayerNoise& l : noise.layers) v.push_back(l.*site.member);
    j[site.name] = v;
  }
  j["output_clip"] = noise.output_clip;
  return j;
}

NoiseModel noise_from_json(const nlohmann::json& j, size_t num_layers, const std::string& what) {
  if (!j.is_object()) throw InputError(what + ": expected a JSON object for the noise model");
  NoiseModel m = NoiseModel::none(num_layers);
  for (const NoiseSiteInfo& site : noise_sites()) {
    const char* key = site.name;
    if (!j.contains(key)) continue;
    const nlohmann::json& v = j.at(key);
    if (!v.is_array() || v.size() != num_layers) {
      throw InputError(what + ": '" + key + "' must be a list of " + std::to_string(num_layers) +
                       " numbers, found " + v.dump());
    }
    for (size_t l = 0; l < num_layers; ++l) {
      if (!v[l].is_number()) {
        throw InputError(what + ": '" + key + "' holds a non-number: " + v[l].dump());
      }
      m.layers[l].*site.member = v[l].get<double>();
    }
  }
  if (j.contains("output_clip")) {
    if (!j.at("output_clip").is_number()) throw InputError(what + ": output_clip must be a number");
    m.output_clip = j.at("output_clip").get<double>();
  }
  m.validate(num_layers, what);
  return m;
}

nlohmann::json imperfections_to_json(const Imperfections& imp) {
  nlohmann::json j = {{"gain_std", imp.gain_std}, {"weight_bits", imp.weight_bits}};
  // The later keys only when set, so the text of every config written before them (which a
  // resumed sweep or frontier compares) stays the same.
  if (imp.row_gain_std != 0) j["row_gain_std"] = imp.row_gain_std;
  if (imp.col_gain_std != 0) j["col_gain_std"] = imp.col_gain_std;
  if (imp.crosstalk != 0) j["crosstalk"] = imp.crosstalk;
  if (imp.dac != DacScale::kLayer) j["dac"] = to_string(imp.dac);
  return j;
}

Imperfections imperfections_from_json(const nlohmann::json& j, const std::string& what) {
  Imperfections imp;
  if (!j.is_object()) throw InputError(what + ": expected a JSON object");
  static const char* const kKeys[] = {"gain_std",     "weight_bits", "row_gain_std",
                                      "col_gain_std", "crosstalk",   "dac"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(std::begin(kKeys), std::end(kKeys), it.key()) == std::end(kKeys)) {
      const std::string& k = it.key();
      throw InputError(what + ": unknown key '" + (k.size() <= 100 ? k : k.substr(0, 100) + "...") +
                       "' (expected gain_std, weight_bits, row_gain_std, col_gain_std, "
                       "crosstalk, dac)");
    }
  }
  const auto number = [&](const char* key, double& out) {
    if (!j.contains(key)) return;
    if (!j[key].is_number()) throw InputError(what + ": " + key + " must be a number");
    out = j[key].get<double>();
  };
  number("gain_std", imp.gain_std);
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
  number("row_gain_std", imp.row_gain_std);
  number("col_gain_std", imp.col_gain_std);
  number("crosstalk", imp.crosstalk);
  if (j.contains("dac")) {
    if (!j["dac"].is_string()) throw InputError(what + ": dac must be \"layer\" or \"fixed\"");
    try {
      imp.dac = parse_dac_scale(j["dac"].get<std::string>());
    } catch (const InputError& e) {
      throw InputError(what + ": dac: " + e.what());
    }
  }
  imp.validate(what);
  return imp;
}

}  // namespace gift::io

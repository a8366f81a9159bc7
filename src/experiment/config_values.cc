#include "config_values.h"

#include <cmath>
#include <limits>

#include "gift/core/error.h"
#include "gift/io/model_json.h"

namespace gift::experiment::detail {

std::string shown(const json& v) {
  std::string s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

[[noreturn]] void bad_value(const std::string& what, const std::string& key,
                            const std::string& expected, const json& v) {
  throw InputError(what + ": key '" + key + "' must be " + expected + ", found " + shown(v));
}

// A non-negative integer: a JSON integer, or an integral float up to 2^53 (2.0, 1e3).
std::optional<uint64_t> count_of(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    return x >= 0 ? std::optional<uint64_t>(static_cast<uint64_t>(x)) : std::nullopt;
  }
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (x >= 0 && x <= 9007199254740992.0 && std::floor(x) == x) return static_cast<uint64_t>(x);
  }
  return std::nullopt;
}

std::string integer_range(uint64_t lo, uint64_t hi) {
  if (hi == std::numeric_limits<uint64_t>::max()) {
    return lo == 0 ? "a non-negative integer" : "an integer >= " + std::to_string(lo);
  }
  return "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

uint64_t integer_value(const json& v, const std::string& key, uint64_t lo, uint64_t hi,
                       const std::string& what) {
  const std::optional<uint64_t> n = count_of(v);
  if (!n || *n < lo || *n > hi) bad_value(what, key, integer_range(lo, hi), v);
  return *n;
}

// j[key] if present: a finite number in [lo, hi] (`expected` says so in words).
double get_number(const json& j, const char* key, double fallback, double lo, double hi,
                  const std::string& expected, const std::string& what) {
  if (!j.contains(key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < lo ||
      v.get<double>() > hi) {
    bad_value(what, key, expected, v);
  }
  return v.get<double>();
}

std::string get_string(const json& j, const char* key, const std::string& fallback,
                       const std::string& expected, const std::string& what) {
  if (!j.contains(key)) return fallback;
  if (!j.at(key).is_string()) bad_value(what, key, expected, j.at(key));
  return j.at(key).get<std::string>();
}

// j[key]: a non-empty list (checked element by element by the caller).
const json& get_list(const json& j, const char* key, const std::string& expected,
                     const std::string& what) {
  const json& v = j.at(key);
  if (!v.is_array() || v.empty()) bad_value(what, key, expected, v);
  return v;
}

void reject_unknown(const json& j, const std::set<std::string>& known, const std::string& what) {
  if (!j.is_object()) throw InputError(what + ": expected a JSON object, found " + shown(j));
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!known.count(it.key())) throw InputError(what + ": unknown key '" + it.key() + "'");
  }
}

NoiseModel pattern_from_json(const json& j, size_t layers, const std::string& what) {
  if (!j.is_object()) bad_value(what, "pattern", "an object of site: std", j);
  NoiseModel m = NoiseModel::none(layers);
  const double kMax = std::numeric_limits<double>::max();
  const std::string per_layer = "a number >= 0 or a list of " + std::to_string(layers);
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "output_clip") {
      m.output_clip = get_number(j, "output_clip", 0, 0, kMax, "a number >= 0 (0 = none)", what);
      continue;
    }
    const NoiseSite site = parse_noise_site(it.key());
    const auto level = [&](const json& v) {
      if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) {
        bad_value(what, "pattern." + it.key(), per_layer, *it);
      }
      return v.get<double>();
    };
    if (it->is_number()) {
      for (LayerNoise& l : m.layers) l.at(site) = level(*it);
    } else if (it->is_array() && it->size() == layers) {
      for (size_t l = 0; l < layers; ++l) m.layers[l].at(site) = level((*it)[l]);
    } else {
      bad_value(what, "pattern." + it.key(), per_layer, *it);
    }
  }
  m.validate(layers, what + " pattern");
  return m;
}

// x * y and x + y, or max() if that overflows.
uint64_t saturating_mul(uint64_t x, uint64_t y) {
  if (x != 0 && y > std::numeric_limits<uint64_t>::max() / x) {
    return std::numeric_limits<uint64_t>::max();
  }
  return x * y;
}
uint64_t saturating_add(uint64_t x, uint64_t y) {
  return y > std::numeric_limits<uint64_t>::max() - x ? std::numeric_limits<uint64_t>::max()
                                                      : x + y;
}

void check_range(const std::string& owner, const std::string& name, int64_t value, int64_t lo,
                 int64_t hi) {
  if (value < lo || value > hi) {
    throw InputError(owner + ": " + name + " must be in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "], found " + std::to_string(value));
  }
}

// A noise model in the JSON form of noise_to_json, its number of layers taken from its lists
// (all of one length; none: no layers, an ideal device).
NoiseModel noise_of_json(const json& j, const std::string& what) {
  std::set<std::string> known = {"output_clip"};
  for (const NoiseSiteInfo& info : noise_sites()) known.insert(info.name);
  reject_unknown(j, known, what);
  size_t layers = 0;
  bool found = false;
  for (const NoiseSiteInfo& info : noise_sites()) {
    const char* site = info.name;
    if (!j.contains(site)) continue;
    if (!j.at(site).is_array()) bad_value(what, site, "a list of one std per layer", j.at(site));
    if (found && j.at(site).size() != layers) {
      const std::string expected =
          "a list of " + std::to_string(layers) + " numbers (one per layer, as the other sites)";
      bad_value(what, site, expected, j.at(site));
    }
    layers = j.at(site).size();
    found = true;
  }
  NoiseModel m = io::noise_from_json(j, layers, what);
  if (j.contains("output_clip")) {
    m.output_clip = get_number(j, "output_clip", 0, 0, std::numeric_limits<double>::max(),
                               "a number >= 0 (0 = none)", what);
  }
  return m;
}

}  // namespace gift::experiment::detail

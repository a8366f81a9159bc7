#include "gift/experiment/results.h"

#include <cmath>
#include <limits>

#include "gift/core/error.h"
#include "gift/experiment/number_text.h"
#include "gift/io/atomic_file.h"
#include "results_file.h"

namespace gift::experiment {

using nlohmann::json;

std::optional<double> recovery_of(double before, double after, double oracle) {
  if (!(oracle - before >= kMinRecoveryGap)) return std::nullopt;
  return (after - before) / (oracle - before);
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ------------------------------------------------------------------ row parsing

std::string shown(const json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

[[noreturn]] void bad_field(const std::string& name, const std::string& expected, const json& v) {
  throw InputError("field '" + name + "' of a sweep row: expected " + expected + ", found " +
                   shown(v));
}

const json& field(const json& j, const std::string& name) {
  const auto it = j.find(name);
  if (it == j.end()) {
    throw InputError("field '" + name + "' of a sweep row: missing (found the fields " + [&] {
      std::string keys;
      for (const auto& item : j.items()) {
        keys += (keys.empty() ? "" : ", ") + item.key();
      }
      return keys.empty() ? std::string("none") : keys;
    }() + ")");
  }
  return *it;
}

std::string get_string(const json& j, const std::string& name, bool non_empty) {
  const json& v = field(j, name);
  if (!v.is_string() || (non_empty && v.get<std::string>().empty())) {
    bad_field(name, non_empty ? "a non-empty string" : "a string", v);
  }
  return v.get<std::string>();
}

// A finite number in [lo, hi].
double get_number(const json& j, const std::string& name, double lo, double hi,
                  const std::string& expected) {
  const json& v = field(j, name);
  if (!v.is_number()) bad_field(name, expected, v);
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) bad_field(name, expected, v);
  return x;
}

// A non-negative integer (an integral float such as 6.56e4 is accepted).
uint64_t get_count(const json& j, const std::string& name) {
  const json& v = field(j, name);
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0)
    return static_cast<uint64_t>(v.get<int64_t>());
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (x >= 0 && x <= 9007199254740992.0 && std::floor(x) == x) return static_cast<uint64_t>(x);
  }
  bad_field(name, "a non-negative integer", v);
}

int64_t get_int64(const json& j, const std::string& name) {
  const uint64_t n = get_count(j, name);
  if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    bad_field(name, "a non-negative integer below 2^63", field(j, name));
  }
  return static_cast<int64_t>(n);
}

double get_accuracy(const json& j, const std::string& name) {
  return get_number(j, name, 0, 1, "an accuracy (a number in [0, 1])");
}

Interval get_interval(const json& j, const std::string& name) {
  const json& v = field(j, name);
  const std::string expected = "[low, high] with 0 <= low <= high <= 1";
  if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number()) {
    bad_field(name, expected, v);
  }
  Interval ci{v[0].get<double>(), v[1].get<double>()};
  if (!(ci.low >= 0 && ci.low <= ci.high && ci.high <= 1)) bad_field(name, expected, v);
  return ci;
}

}  // namespace

// ------------------------------------------------------------------ rows

SweepRow row_from_json(const json& j) {
  if (!j.is_object()) {
    throw InputError("sweep row: expected a JSON object, found " + shown(j));
  }
  SweepRow r;
  r.key = get_string(j, "key", true);
  r.grid = get_string(j, "grid", true);
  const double kMax = std::numeric_limits<double>::max();
  r.assumed_level = get_number(j, "assumed", 0, kMax, "a noise level (a number >= 0)");
  r.true_level = get_number(j, "true", 0, kMax, "a noise level (a number >= 0)");
  r.seed = get_count(j, "seed");
  r.method = get_string(j, "method", true);
  r.dataset = get_string(j, "dataset", false);
  r.acc_before = get_accuracy(j, "acc_before");
  r.acc_before_ci = get_interval(j, "acc_before_ci");
  r.acc_after = get_accuracy(j, "acc_after");
  r.acc_after_ci = get_interval(j, "acc_after_ci");
  r.acc_oracle = get_accuracy(j, "acc_oracle");
  r.acc_oracle_ci = get_interval(j, "acc_oracle_ci");
  // Undefined (null) when before is 0.
  r.relative_improvement =
      field(j, "relative_improvement").is_null()
          ? kNaN
          : get_number(j, "relative_improvement", -kMax, kMax, "a number or null");
  if (!field(j, "recovery").is_null()) {
    r.recovery = get_number(j, "recovery", -kMax, kMax, "a number or null");
  }
  r.device_passes = get_int64(j, "device_passes");
  r.device_programmings = get_int64(j, "device_programmings");
  r.sample_gradients = get_int64(j, "sample_gradients");
  r.digital_seconds = get_number(j, "digital_seconds", 0, kMax, "seconds (a number >= 0)");
  const json& accepted = field(j, "accepted");
  if (!accepted.is_boolean()) bad_field("accepted", "true or false", accepted);
  r.accepted = accepted.get<bool>();
  const std::string key = cell_key(r.grid, r.assumed_level, r.true_level, r.seed, r.method);
  if (r.key != key) {
    bad_field("key", "'" + key + "' (grid|assumed|true|seed|method of the row)", field(j, "key"));
  }
  return r;
}

json row_to_json(const SweepRow& r) {
  json j;
  j["key"] = r.key;
  j["grid"] = r.grid;
  j["assumed"] = r.assumed_level;
  j["true"] = r.true_level;
  j["seed"] = r.seed;
  j["method"] = r.method;
  j["dataset"] = r.dataset;
  j["acc_before"] = r.acc_before;
  j["acc_before_ci"] = {r.acc_before_ci.low, r.acc_before_ci.high};
  j["acc_after"] = r.acc_after;
  j["acc_after_ci"] = {r.acc_after_ci.low, r.acc_after_ci.high};
  j["acc_oracle"] = r.acc_oracle;
  j["acc_oracle_ci"] = {r.acc_oracle_ci.low, r.acc_oracle_ci.high};
  j["relative_improvement"] = r.relative_improvement;
  j["recovery"] = r.recovery ? json(*r.recovery) : json(nullptr);
  j["device_passes"] = r.device_passes;
  j["device_programmings"] = r.device_programmings;
  j["sample_gradients"] = r.sample_gradients;
  j["digital_seconds"] = r.digital_seconds;
  j["accepted"] = r.accepted;
  return j;
}

std::string cell_key(const std::string& grid, double assumed, double truth, uint64_t seed,
                     const std::string& method) {
  return grid + "|" + level_label(assumed) + "|" + level_label(truth) + "|" + std::to_string(seed) +
         "|" + method;
}

std::vector<SweepRow> parse_results(const std::string& text, const std::string& path) {
  return detail::parse_rows<SweepRow>(text, path, row_from_json);
}

std::vector<SweepRow> read_results(const std::string& path) {
  return parse_results(io::read_file(path), path);
}

}  // namespace gift::experiment

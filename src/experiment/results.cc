#include "gift/experiment/results.h"

#include <cmath>
#include <limits>

#include "config_values.h"
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

double relative_improvement_of(double before, double after) { return (after - before) / before; }

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ------------------------------------------------------------------ row parsing

[[noreturn]] void bad_field(const std::string& name, const std::string& expected, const json& v) {
  throw InputError("field '" + name + "' of a study row: expected " + expected + ", found " +
                   detail::shown(v));
}

const json& field(const json& j, const std::string& name) {
  const auto it = j.find(name);
  if (it == j.end()) {
    throw InputError("field '" + name + "' of a study row: missing (found the fields " + [&] {
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
  if (const std::optional<uint64_t> n = detail::count_of(v)) return *n;
  bad_field(name, "a non-negative integer", v);
}

double get_accuracy(const json& j, const std::string& name) {
  return get_number(j, name, 0, 1, "an accuracy (a number in [0, 1])");
}

// The 95% interval `name` of the accuracy `mean` (over noise draws; the file keeps [low, high]).
Interval get_interval(const json& j, const std::string& name, double mean) {
  const json& v = field(j, name);
  const std::string expected = "[low, high] with 0 <= low <= high <= 1";
  if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number()) {
    bad_field(name, expected, v);
  }
  Interval ci{v[0].get<double>(), v[1].get<double>(), mean};
  ci.over = Over::kDraws;
  if (!(ci.low >= 0 && ci.low <= ci.high && ci.high <= 1)) bad_field(name, expected, v);
  return ci;
}

}  // namespace

// ------------------------------------------------------------------ rows

namespace {

// The axes of an old row, by its format: a results.jsonl row of a sweep (no budget), or a
// frontier.jsonl row (no grid); the key each spelled.
enum class Format { kStudy, kOldSweep, kOldFrontier };

Format format_of(const json& j) {
  if (!j.contains("grid")) return Format::kOldFrontier;
  if (!j.contains("budget_gradients")) return Format::kOldSweep;
  return Format::kStudy;
}

std::string old_key(Format f, const StudyRow& r) {
  if (f == Format::kOldFrontier) {
    return std::to_string(r.seed) + "|" + r.method + "|" + std::to_string(r.budget.gradients) +
           "|" + std::to_string(r.budget.passes);
  }
  return r.grid + "|" + level_label(r.assumed_level) + "|" + level_label(r.true_level) + "|" +
         std::to_string(r.seed) + "|" + r.method;
}

bool get_flag(const json& j, const std::string& name) {
  const json& v = field(j, name);
  if (!v.is_boolean()) bad_field(name, "true or false", v);
  return v.get<bool>();
}

// The axes; fields an old format lacks keep their defaults.
void read_axes(const json& j, Format f, StudyRow& r) {
  const double kMax = std::numeric_limits<double>::max();
  if (f != Format::kOldFrontier) {
    r.grid = get_string(j, "grid", false);  // "" in a frontier
    r.assumed_level = get_number(j, "assumed", 0, kMax, "a noise level (a number >= 0)");
    r.true_level = get_number(j, "true", 0, kMax, "a noise level (a number >= 0)");
  }
  r.seed = get_count(j, "seed");
  r.method = get_string(j, "method", true);
  if (f != Format::kOldSweep)
    r.budget = {get_count(j, "budget_gradients"), get_count(j, "budget_passes")};
  if (f == Format::kStudy) r.device_seed = get_count(j, "device_seed");
}

}  // namespace

StudyRow row_from_json(const json& j) {
  if (!j.is_object()) {
    throw InputError("study row: expected a JSON object, found " + detail::shown(j));
  }
  const Format f = format_of(j);
  StudyRow r;
  r.key = get_string(j, "key", true);
  read_axes(j, f, r);
  const double kMax = std::numeric_limits<double>::max();
  r.dataset = get_string(j, "dataset", false);
  r.acc_before = get_accuracy(j, "acc_before");
  r.acc_before_ci = get_interval(j, "acc_before_ci", r.acc_before);
  r.acc_after = get_accuracy(j, "acc_after");
  r.acc_after_ci = get_interval(j, "acc_after_ci", r.acc_after);
  r.acc_oracle = get_accuracy(j, "acc_oracle");
  r.acc_oracle_ci = get_interval(j, "acc_oracle_ci", r.acc_oracle);
  // Undefined (null) when before is 0; an old frontier row did not write it.
  if (f == Format::kOldFrontier) {
    r.relative_improvement = relative_improvement_of(r.acc_before, r.acc_after);
  } else {
    r.relative_improvement =
        field(j, "relative_improvement").is_null()
            ? kNaN
            : get_number(j, "relative_improvement", -kMax, kMax, "a number or null");
  }
  if (!field(j, "recovery").is_null()) {
    r.recovery = get_number(j, "recovery", -kMax, kMax, "a number or null");
  }
  r.sample_gradients = get_count(j, "sample_gradients");
  r.device_passes = get_count(j, "device_passes");
  r.device_programmings = get_count(j, "device_programmings");
  r.accepted = get_flag(j, "accepted");
  if (f != Format::kOldSweep) {
    r.budget_limited = get_flag(j, "budget_limited");
    r.seconds = get_number(j, "seconds", 0, kMax, "seconds (a number >= 0)");
  }
  r.digital_seconds = get_number(j, "digital_seconds", 0, kMax, "seconds (a number >= 0)");
  const std::string key = f == Format::kStudy ? study_key(r) : old_key(f, r);
  if (r.key != key) {
    bad_field("key",
              "'" + key + "' (" +
                  (f == Format::kOldFrontier ? "seed|method|gradients|passes"
                   : f == Format::kOldSweep  ? "grid|assumed|true|seed|method"
                                             : "grid|assumed|true|seed|method|gradients|"
                                               "passes") +
                  " of the row)",
              field(j, "key"));
  }
  r.key = study_key(r);
  return r;
}

json row_to_json(const StudyRow& r) {
  json j;
  j["key"] = r.key;
  j["grid"] = r.grid;
  j["assumed"] = r.assumed_level;
  j["true"] = r.true_level;
  j["seed"] = r.seed;
  j["method"] = r.method;
  j["budget_gradients"] = r.budget.gradients;
  j["budget_passes"] = r.budget.passes;
  j["device_seed"] = r.device_seed;
  j["dataset"] = r.dataset;
  j["acc_before"] = r.acc_before;
  j["acc_before_ci"] = {r.acc_before_ci.low, r.acc_before_ci.high};
  j["acc_after"] = r.acc_after;
  j["acc_after_ci"] = {r.acc_after_ci.low, r.acc_after_ci.high};
  j["acc_oracle"] = r.acc_oracle;
  j["acc_oracle_ci"] = {r.acc_oracle_ci.low, r.acc_oracle_ci.high};
  j["relative_improvement"] = r.relative_improvement;
  j["recovery"] = r.recovery ? json(*r.recovery) : json(nullptr);
  j["sample_gradients"] = r.sample_gradients;
  j["device_passes"] = r.device_passes;
  j["device_programmings"] = r.device_programmings;
  j["accepted"] = r.accepted;
  j["budget_limited"] = r.budget_limited;
  j["seconds"] = r.seconds;
  j["digital_seconds"] = r.digital_seconds;
  return j;
}

std::string study_key(const StudyRow& r) {
  return r.grid + "|" + level_label(r.assumed_level) + "|" + level_label(r.true_level) + "|" +
         std::to_string(r.seed) + "|" + r.method + "|" + std::to_string(r.budget.gradients) + "|" +
         std::to_string(r.budget.passes);
}

std::vector<StudyRow> parse_results(const std::string& text, const std::string& path) {
  return detail::parse_rows<StudyRow>(text, path, row_from_json);
}

std::vector<StudyRow> read_results(const std::string& path) {
  return parse_results(io::read_file(path), path);
}

}  // namespace gift::experiment

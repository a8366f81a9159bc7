#include <algorithm>
#include <limits>
#include <map>
#include <utility>

#include "config_values.h"
#include "gift/core/error.h"
#include "gift/experiment/aggregate.h"
#include "gift/experiment/frontier.h"
#include "results_file.h"

// The rows of frontier.jsonl (one reader, one writer) and their aggregation over seeds.
namespace gift::experiment {

using nlohmann::json;
using namespace detail;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

MeanCI undefined_stat() {
  MeanCI m;
  m.mean = m.low = m.high = kNaN;
  m.n = 0;
  return m;
}

// Mean and interval of accuracies over seeds. One seed, or seeds that all gave the same number
// (where they changed nothing, their spread is no interval), keep the first's Monte-Carlo one.
MeanCI accuracy_over(const std::vector<std::pair<double, Interval>>& v) {
  if (v.empty()) return undefined_stat();
  std::vector<double> x;
  for (const auto& p : v) x.push_back(p.first);
  MeanCI m = within(mean_ci95(x), 0, 1);  // an accuracy: a t interval can reach past 100%
  if (std::all_of(x.begin(), x.end(), [&](double a) { return a == x[0]; })) {
    m.low = v[0].second.low;
    m.high = v[0].second.high;
  }
  return m;
}

}  // namespace

// ------------------------------------------------------------------ rows

std::string frontier_key(uint64_t seed, const std::string& method, const Rung& rung) {
  return std::to_string(seed) + "|" + method + "|" + std::to_string(rung.gradients) + "|" +
         std::to_string(rung.passes);
}

json frontier_row_to_json(const FrontierRow& r) {
  return {{"key", r.key},
          {"seed", r.seed},
          {"method", r.method},
          {"budget_gradients", r.budget.gradients},
          {"budget_passes", r.budget.passes},
          {"sample_gradients", r.sample_gradients},
          {"device_passes", r.device_passes},
          {"device_programmings", r.device_programmings},
          {"accepted", r.accepted},
          {"budget_limited", r.budget_limited},
          {"dataset", r.dataset},
          {"acc_before", r.acc_before},
          {"acc_before_ci", {r.acc_before_ci.low, r.acc_before_ci.high}},
          {"acc_after", r.acc_after},
          {"acc_after_ci", {r.acc_after_ci.low, r.acc_after_ci.high}},
          {"acc_oracle", r.acc_oracle},
          {"acc_oracle_ci", {r.acc_oracle_ci.low, r.acc_oracle_ci.high}},
          {"recovery", r.recovery ? json(*r.recovery) : json(nullptr)},
          {"seconds", r.seconds},
          {"digital_seconds", r.digital_seconds}};
}

FrontierRow frontier_row_from_json(const json& j) {
  const std::string what = "frontier row";
  if (!j.is_object()) throw InputError(what + ": expected a JSON object, found " + shown(j));
  const auto need = [&](const char* key) -> const json& {
    if (!j.contains(key)) throw InputError(what + ": field '" + key + "' is missing");
    return j.at(key);
  };
  constexpr uint64_t kAny = std::numeric_limits<uint64_t>::max();
  const double kMax = std::numeric_limits<double>::max();
  const auto count = [&](const char* key) { return integer_value(need(key), key, 0, kAny, what); };
  const auto accuracy = [&](const char* key) {
    need(key);
    return get_number(j, key, 0, 0, 1, "an accuracy in [0, 1]", what);
  };
  const auto interval = [&](const char* key) {
    const json& v = need(key);
    const std::string expected = "[low, high] with 0 <= low <= high <= 1";
    if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number()) {
      bad_value(what, key, expected, v);
    }
    const Interval ci{v[0].get<double>(), v[1].get<double>()};
    if (!(ci.low >= 0 && ci.low <= ci.high && ci.high <= 1)) bad_value(what, key, expected, v);
    return ci;
  };
  const auto flag = [&](const char* key) {
    const json& v = need(key);
    if (!v.is_boolean()) bad_value(what, key, "true or false", v);
    return v.get<bool>();
  };
  FrontierRow r;
  need("key");
  r.key = get_string(j, "key", "", "a string", what);
  r.seed = count("seed");
  need("method");
  r.method = get_string(j, "method", "", "a method name", what);
  r.budget = {count("budget_gradients"), count("budget_passes")};
  r.sample_gradients = count("sample_gradients");
  r.device_passes = count("device_passes");
  r.device_programmings = count("device_programmings");
  r.accepted = flag("accepted");
  r.budget_limited = flag("budget_limited");
  need("dataset");
  r.dataset = get_string(j, "dataset", "", "a string", what);
  r.acc_before = accuracy("acc_before");
  r.acc_before_ci = interval("acc_before_ci");
  r.acc_after = accuracy("acc_after");
  r.acc_after_ci = interval("acc_after_ci");
  r.acc_oracle = accuracy("acc_oracle");
  r.acc_oracle_ci = interval("acc_oracle_ci");
  if (!need("recovery").is_null()) {
    r.recovery = get_number(j, "recovery", 0, -kMax, kMax, "a number or null", what);
  }
  need("seconds");
  r.seconds = get_number(j, "seconds", 0, 0, kMax, "seconds (a number >= 0)", what);
  need("digital_seconds");
  r.digital_seconds = get_number(j, "digital_seconds", 0, 0, kMax, "seconds (a number >= 0)", what);
  const std::string key = frontier_key(r.seed, r.method, r.budget);
  if (r.key != key)
    bad_value(what, "key", "'" + key + "' (seed|method|gradients|passes)", j["key"]);
  return r;
}

std::vector<FrontierRow> parse_frontier_rows(const std::string& text, const std::string& path) {
  return parse_rows<FrontierRow>(text, path, frontier_row_from_json);
}

// ------------------------------------------------------------------ aggregation and table

FrontierTable aggregate_frontier(const std::vector<FrontierRow>& rows,
                                 const FrontierConfig& config) {
  std::map<std::string, const FrontierRow*> by_key;
  for (const FrontierRow& r : rows) by_key.emplace(r.key, &r);
  FrontierTable t;
  std::vector<std::pair<double, Interval>> start, oracle;
  for (uint64_t seed : config.seeds) {
    const auto it = by_key.find(frontier_key(seed, "none", {0, 0}));
    if (it == by_key.end()) continue;
    start.emplace_back(it->second->acc_before, it->second->acc_before_ci);
    oracle.emplace_back(it->second->acc_oracle, it->second->acc_oracle_ci);
    t.dataset = it->second->dataset;
    ++t.seeds;
  }
  t.start = accuracy_over(start);
  t.oracle = accuracy_over(oracle);
  std::vector<std::string> methods = config.methods;
  std::stable_sort(methods.begin(), methods.end(), [](const std::string& a, const std::string& b) {
    return method_rank(a) < method_rank(b);
  });
  for (const std::string& m : methods) {
    for (const Rung& rung : config.ladder) {
      FrontierPoint p;
      p.method = m;
      p.budget = rung;
      std::vector<std::pair<double, Interval>> acc;
      std::vector<double> rec;
      for (uint64_t seed : config.seeds) {
        const auto it = by_key.find(frontier_key(seed, m, rung));
        if (it == by_key.end()) continue;
        const FrontierRow& r = *it->second;
        ++p.seeds;
        p.sample_gradients += static_cast<double>(r.sample_gradients);
        p.device_passes += static_cast<double>(r.device_passes);
        p.seconds += r.seconds;
        p.accepted += r.accepted ? 1 : 0;
        p.budget_limited += r.budget_limited ? 1 : 0;
        acc.emplace_back(r.acc_after, r.acc_after_ci);
        // Recomputed from the accuracies, so every row follows one rule.
        if (const std::optional<double> x = recovery_of(r.acc_before, r.acc_after, r.acc_oracle)) {
          rec.push_back(*x);
        }
        if (t.dataset.empty()) t.dataset = r.dataset;
      }
      if (p.seeds == 0) continue;
      p.sample_gradients /= p.seeds;
      p.device_passes /= p.seeds;
      p.seconds /= p.seeds;
      p.accuracy = accuracy_over(acc);
      p.recovery = rec.empty() ? undefined_stat() : mean_ci95(rec);
      t.points.push_back(p);
    }
  }
  return t;
}

}  // namespace gift::experiment

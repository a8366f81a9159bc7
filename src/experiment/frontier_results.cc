#include <algorithm>
#include <limits>
#include <map>
#include <utility>

#include "experiment_util.h"
#include "gift/core/error.h"
#include "gift/experiment/aggregate.h"
#include "gift/experiment/frontier.h"
#include "results_file.h"

// The aggregation of a frontier's rows (results.h) over seeds.
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

// ------------------------------------------------------------------ cells

StudyRow frontier_cell(uint64_t seed, const std::string& method, const Rung& rung) {
  StudyRow r;
  r.seed = seed;
  r.method = method;
  r.budget = rung;
  r.key = study_key(r);
  return r;
}

// ------------------------------------------------------------------ aggregation and table

FrontierTable aggregate_frontier(const std::vector<StudyRow>& rows, const FrontierConfig& config) {
  std::map<std::string, const StudyRow*> by_key;
  for (const StudyRow& r : rows) by_key.emplace(r.key, &r);
  FrontierTable t;
  std::vector<std::pair<double, Interval>> start, oracle;
  for (uint64_t seed : config.seeds) {
    const auto it = by_key.find(frontier_cell(seed, "none", {0, 0}).key);
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
        const auto it = by_key.find(frontier_cell(seed, m, rung).key);
        if (it == by_key.end()) continue;
        const StudyRow& r = *it->second;
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

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "config_values.h"
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

Interval undefined_stat() {
  Interval m;
  m.mean = m.low = m.high = kNaN;
  m.n = 0;
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
  // The rows of the config's cells, aggregated over seeds like every study's (aggregate.h).
  std::set<std::string> cells;
  for (uint64_t seed : config.seeds) {
    cells.insert(frontier_cell(seed, "none", {0, 0}).key);
    for (const Rung& rung : config.ladder) {
      for (const std::string& m : config.methods) cells.insert(frontier_cell(seed, m, rung).key);
    }
  }
  std::vector<StudyRow> mine;
  for (const StudyRow& r : rows) {
    if (cells.count(r.key)) mine.push_back(r);
  }
  const std::vector<AggregateRow> agg = aggregate(mine);
  FrontierTable t;
  t.start = t.oracle = undefined_stat();
  for (const AggregateRow& a : agg) {
    if (a.method != "none") continue;
    t.start = a.acc_before;
    t.oracle = a.acc_oracle;
    t.seeds = a.seeds;
    t.dataset = a.dataset;
  }
  std::vector<std::string> methods = config.methods;
  std::stable_sort(methods.begin(), methods.end(), [](const std::string& a, const std::string& b) {
    return method_rank(a) < method_rank(b);
  });
  for (const std::string& m : methods) {
    for (const Rung& rung : config.ladder) {
      for (const AggregateRow& a : agg) {
        if (a.method == m && a.budget == rung) t.points.push_back(a);
      }
    }
  }
  if (t.dataset.empty() && !t.points.empty()) t.dataset = t.points[0].dataset;
  return t;
}

}  // namespace gift::experiment

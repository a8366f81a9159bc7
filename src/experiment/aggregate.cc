#include "gift/experiment/aggregate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "gift/core/error.h"
#include "gift/experiment/number_text.h"

namespace gift::experiment {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The identity of an aggregate: the axes of a row but its seed, in report order.
struct Cell {
  std::string grid;
  double assumed, truth;
  std::string method;
  Rung budget;
  auto order() const {
    return std::make_tuple(std::cref(grid), assumed, truth, method_rank(method), std::cref(method),
                           budget.gradients, budget.passes);
  }
  bool operator<(const Cell& o) const { return order() < o.order(); }
};

std::string describe(const Cell& c) {
  return "grid " + c.grid + ", assumed " + number_text(c.assumed) + ", true " +
         number_text(c.truth) + ", method " + c.method + ", budget " +
         std::to_string(c.budget.gradients) + ":" + std::to_string(c.budget.passes);
}

Interval stat_of(const std::vector<const StudyRow*>& rows, double (*get)(const StudyRow&)) {
  std::vector<double> v;
  for (const StudyRow* r : rows) v.push_back(get(*r));
  return mean_ci95(v, Over::kSeeds);
}

// An accuracy: over seeds, within [0, 1] (a t interval over few seeds can reach past 100%). One
// seed, or seeds that all gave the same number (where they changed nothing, their spread is no
// interval), keep the first row's own Monte-Carlo interval.
Interval accuracy_of(const std::vector<const StudyRow*>& rows, double (*get)(const StudyRow&),
                     Interval (*get_ci)(const StudyRow&)) {
  Interval m = within(stat_of(rows, get), 0, 1);
  const double first = get(*rows[0]);
  if (std::all_of(rows.begin(), rows.end(), [&](const StudyRow* r) { return get(*r) == first; })) {
    m.low = get_ci(*rows[0]).low;
    m.high = get_ci(*rows[0]).high;
  }
  return m;
}

// Over the rows where `get` is defined; n == 0 and NaN everywhere when it is defined for none.
Interval defined_stat(const std::vector<const StudyRow*>& rows,
                      std::optional<double> (*get)(const StudyRow&)) {
  std::vector<double> v;
  for (const StudyRow* r : rows) {
    if (const std::optional<double> x = get(*r)) v.push_back(*x);
  }
  if (v.empty()) {
    Interval m;
    m.mean = m.low = m.high = kNaN;
    m.n = 0;
    return m;
  }
  return mean_ci95(v, Over::kSeeds);
}

double mean_of(const std::vector<const StudyRow*>& rows, double (*get)(const StudyRow&)) {
  double s = 0;
  for (const StudyRow* r : rows) s += get(*r);
  return s / static_cast<double>(rows.size());
}

}  // namespace

std::vector<AggregateRow> aggregate(const std::vector<StudyRow>& rows) {
  std::map<Cell, std::vector<const StudyRow*>> cells;
  std::set<std::pair<Cell, uint64_t>> seen;  // (cell, seed): the first row is kept
  for (const StudyRow& r : rows) {
    Cell cell{r.grid, r.assumed_level, r.true_level, r.method, r.budget};
    if (!seen.insert({cell, r.seed}).second) continue;
    cells[cell].push_back(&r);
  }
  std::vector<AggregateRow> out;
  for (const auto& [cell, group] : cells) {
    AggregateRow a;
    a.grid = cell.grid;
    a.assumed_level = cell.assumed;
    a.true_level = cell.truth;
    a.method = cell.method;
    a.budget = cell.budget;
    a.dataset = group[0]->dataset;
    for (const StudyRow* r : group) {
      if (r->dataset != a.dataset) {
        throw InputError("rows of " + describe(cell) + " come from different data sets: '" +
                         a.dataset + "' and '" + r->dataset + "'");
      }
    }
    a.seeds = static_cast<int>(group.size());
    a.acc_before = accuracy_of(
        group, [](const StudyRow& r) { return r.acc_before; },
        [](const StudyRow& r) { return r.acc_before_ci; });
    a.acc_after = accuracy_of(
        group, [](const StudyRow& r) { return r.acc_after; },
        [](const StudyRow& r) { return r.acc_after_ci; });
    a.acc_oracle = accuracy_of(
        group, [](const StudyRow& r) { return r.acc_oracle; },
        [](const StudyRow& r) { return r.acc_oracle_ci; });
    a.relative_improvement = defined_stat(group, [](const StudyRow& r) {
      return std::isfinite(r.relative_improvement) ? std::optional<double>(r.relative_improvement)
                                                   : std::nullopt;
    });
    a.recovery = defined_stat(group, [](const StudyRow& r) {
      // Recomputed from the accuracies, so rows written by any version follow one rule.
      return recovery_of(r.acc_before, r.acc_after, r.acc_oracle);
    });
    a.device_passes = mean_of(group, [](const StudyRow& r) { return double(r.device_passes); });
    a.device_programmings =
        mean_of(group, [](const StudyRow& r) { return double(r.device_programmings); });
    a.sample_gradients =
        mean_of(group, [](const StudyRow& r) { return double(r.sample_gradients); });
    a.digital_seconds = mean_of(group, [](const StudyRow& r) { return r.digital_seconds; });
    a.seconds = mean_of(group, [](const StudyRow& r) { return r.seconds; });
    for (const StudyRow* r : group) {
      a.accepted += r->accepted ? 1 : 0;
      a.budget_limited += r->budget_limited ? 1 : 0;
    }
    a.accepted_fraction = mean_of(group, [](const StudyRow& r) { return r.accepted ? 1.0 : 0.0; });
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace gift::experiment

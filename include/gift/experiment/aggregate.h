// The aggregation of a study's rows (results.h) over seeds: one AggregateRow per cell of the
// other axes (grid, assumed, true, method, budget), in report order, which every report shows:
// the sweep's tables (tables.h) and figures (figures.h), and the frontier's (frontier.h).
#pragma once

#include <string>
#include <vector>

#include "gift/core/stats.h"
#include "gift/experiment/results.h"
#include "gift/insitu/methods.h"  // method_rank: the order of methods in reports

namespace gift::experiment {

// One (grid, assumed, true, method, budget) cell, over its seeds. Each Interval is the mean and
// t-based 95% interval over seeds (mean_ci95). With one seed (or seeds that all gave the same
// accuracy), the accuracies carry the first row's Monte-Carlo interval; the other statistics of
// one seed have an interval of zero width. `recovery` and
// `relative_improvement` are over the seeds where they are defined; n == 0 (and mean, low, high
// NaN) when defined for none.
struct AggregateRow {
  std::string grid;
  double assumed_level = 0, true_level = 0;
  std::string method;
  Rung budget;  // {0, 0}: unbudgeted
  std::string dataset;
  int seeds = 0;
  Interval acc_before, acc_after, acc_oracle;
  Interval relative_improvement;
  Interval recovery;
  double device_passes = 0, device_programmings = 0, sample_gradients = 0;  // means over seeds
  double seconds = 0, digital_seconds = 0;                                  // means over seeds
  int accepted = 0, budget_limited = 0;  // seeds whose result was accepted, cut by the budget
  double accepted_fraction = 0;          // accepted / seeds
};

// Groups rows by (grid, assumed, true, method, budget), sorted by grid (by name), assumed, true (by
// value), method (method_rank of gift/insitu/methods.h, then name) and budget. Of rows with the
// same cell and seed, the first is kept. Throws InputError if the rows of one cell come from
// different data sets.
std::vector<AggregateRow> aggregate(const std::vector<StudyRow>& rows);

}  // namespace gift::experiment

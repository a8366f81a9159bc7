// The aggregation of a sweep's rows (results.h) over seeds: one AggregateRow per (grid, assumed,
// true, method), in report order, which the tables (tables.h) and figures (figures.h) show.
#pragma once

#include <string>
#include <vector>

#include "gift/core/stats.h"
#include "gift/experiment/results.h"
#include "gift/insitu/methods.h"  // method_rank: the order of methods in reports

namespace gift::experiment {

// One (grid, assumed, true, method) cell, over its seeds. Each Interval is the mean and t-based 95%
// interval over seeds (mean_ci95). With one seed, the accuracies carry that row's Monte-Carlo
// interval and the other statistics an interval of zero width. `recovery` and
// `relative_improvement` are over the seeds where they are defined; n == 0 (and mean, low, high
// NaN) when defined for none.
struct AggregateRow {
  std::string grid;
  double assumed_level = 0, true_level = 0;
  std::string method;
  std::string dataset;
  int seeds = 0;
  Interval acc_before, acc_after, acc_oracle;
  Interval relative_improvement;
  Interval recovery;
  double device_passes = 0, device_programmings = 0, sample_gradients = 0;  // means over seeds
  double digital_seconds = 0;                                               // mean over seeds
  double accepted_fraction = 0;  // fraction of seeds whose result was accepted
};

// Groups rows by (grid, assumed, true, method), sorted by grid (by name), assumed, true (by value)
// and method (method_rank of gift/insitu/methods.h, then name). Of rows with the same cell and
// seed, the first is kept. Throws InputError if the rows of one cell come from different data sets.
std::vector<AggregateRow> aggregate(const std::vector<SweepRow>& rows);

}  // namespace gift::experiment

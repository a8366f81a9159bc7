// Small statistics used for Monte-Carlo reports.
#pragma once

#include <vector>

namespace gift {

// Two-sided 95% quantile of Student's t with `df` degrees of freedom (df >= 1).
double t_quantile_975(int df);

struct MeanCI {
  double mean = 0, low = 0, high = 0;  // 95% interval for the mean
  double stddev = 0;                   // sample standard deviation (n - 1)
  int n = 0;
};

// Mean and t-based 95% interval of `values` (an interval of zero width for n = 1).
MeanCI mean_ci95(const std::vector<double>& values);

}  // namespace gift

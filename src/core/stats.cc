#include "gift/core/stats.h"

#include <algorithm>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>

#include "gift/core/error.h"

namespace gift {

double t_quantile_975(int df) {
  if (df < 1) throw InternalError("t_quantile_975: df must be >= 1");
  const boost::math::students_t_distribution<double> dist(static_cast<double>(df));
  return boost::math::quantile(dist, 0.975);
}

const char* to_string(Over over) {
  switch (over) {
    case Over::kDraws:
      return "noise draws";
    case Over::kSeeds:
      return "seeds";
    case Over::kImages:
      return "images";
    case Over::kRepeats:
      return "repeats";
  }
  return "?";
}

Interval mean_ci95(const std::vector<double>& values, Over over) {
  Interval r;
  r.over = over;
  r.n = static_cast<int>(values.size());
  if (r.n == 0) throw InternalError("mean_ci95: no values");
  for (double v : values) r.mean += v;
  r.mean /= r.n;
  if (r.n == 1) {
    r.low = r.high = r.mean;
    return r;
  }
  double ss = 0;
  for (double v : values) ss += (v - r.mean) * (v - r.mean);
  r.stddev = std::sqrt(ss / (r.n - 1));
  const double half = t_quantile_975(r.n - 1) * r.stddev / std::sqrt(static_cast<double>(r.n));
  r.low = r.mean - half;
  r.high = r.mean + half;
  return r;
}

Interval within(Interval m, double lo, double hi) {
  m.low = std::clamp(m.low, lo, hi);
  m.high = std::clamp(m.high, lo, hi);
  return m;
}

double sign_test_p(long better, long worse) {
  if (better < 0 || worse < 0) throw InternalError("sign_test_p: negative counts");
  const long n = better + worse;
  if (n == 0 || better == 0) return 1.0;
  // P(X >= better) = complement of P(X <= better - 1).
  const boost::math::binomial_distribution<double> b(static_cast<double>(n), 0.5);
  return boost::math::cdf(boost::math::complement(b, static_cast<double>(better - 1)));
}

double paired_t_p(const std::vector<double>& d) {
  const size_t n = d.size();
  if (n < 2) return 1.0;
  double m = 0;
  for (double v : d) m += v;
  m /= static_cast<double>(n);
  double ss = 0;
  for (double v : d) ss += (v - m) * (v - m);
  const double sd = std::sqrt(ss / static_cast<double>(n - 1));
  if (!(sd > 0)) return m > 0 ? 0.0 : 1.0;  // every difference the same
  const double t = m / (sd / std::sqrt(static_cast<double>(n)));
  const boost::math::students_t_distribution<double> dist(static_cast<double>(n - 1));
  return boost::math::cdf(boost::math::complement(dist, t));
}

double upper_tail_level(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

}  // namespace gift

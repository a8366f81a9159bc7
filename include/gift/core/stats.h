// Small statistics used for Monte-Carlo reports.
#pragma once

#include <vector>

namespace gift {

// Two-sided 95% quantile of Student's t with `df` degrees of freedom (df >= 1), from Boost.Math.
double t_quantile_975(int df);

// What an interval's variation is over, which says what it covers: noise draws (repeated
// passes of one test set through one chip: not other chips, networks or data), seeds (training
// seeds, chips and lab draws: the interval a claim "A beats B" needs), images (the images of one
// set, each measured once), or repeats (calibration's repeated measurements of its inputs).
enum class Over { kDraws, kSeeds, kImages, kRepeats };
const char* to_string(Over over);  // "noise draws", "seeds", "images", "repeats"

// The one interval type of every report: an estimate and its 95% interval [low, high], with
// what the interval is over. (low and high come first so that {low, high} reads as before.)
struct Interval {
  double low = 0, high = 0;  // the 95% interval
  double mean = 0;           // the estimate (a mean unless its producer says otherwise)
  double stddev = 0;         // sample standard deviation (n - 1) of what was averaged; 0 if n < 2
  int n = 0;                 // how many values (draws, seeds, images, repeats) it rests on
  Over over = Over::kDraws;
};

// Mean and t-based 95% interval of `values`, over `over` (an interval of zero width for n = 1).
Interval mean_ci95(const std::vector<double>& values, Over over);

// `m` with its interval cut to [lo, hi], the range its quantity can take (an accuracy: [0, 1]).
// The mean lies in that range, so the cut interval holds it exactly when the uncut one does:
// the coverage is unchanged, and a t interval of few seeds no longer reads "141%".
Interval within(Interval m, double lo, double hi);

// One-sided tests of paired differences d_i (positive: the second of a pair is better), the
// acceptance test of fine-tuning (insitu/method_base.cc). Both return the one-sided p-value
// of "no better" (1 when there is nothing to test).
//   sign_test_p:   exact sign test: P(X >= better) for X ~ Binomial(better + worse, 1/2);
//                  ties are dropped. The test for accuracy, whose differences are 0/±1 per
//                  image and pass.
//   paired_t_p:    Student's t on the mean of `d` (n - 1 degrees of freedom): the test for
//                  the loss.
double sign_test_p(long better, long worse);
double paired_t_p(const std::vector<double>& d);
// The one-sided level of a standard normal quantile z: 1 - Phi(z) (z = 1.645: 0.05).
double upper_tail_level(double z);

}  // namespace gift

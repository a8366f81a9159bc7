// The Monte-Carlo report statistics: Student's t quantile against published values, the mean's
// interval on known data, and its coverage on seeded normal samples.
#include "gift/core/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "gift/core/error.h"
#include "gift/core/rng.h"

namespace gift {
namespace {

TEST(Stats, TQuantileMatchesPublishedValues) {
  // t_{0.975, df} to 9 digits (e.g. Abramowitz & Stegun table 26.10; R's qt(0.975, df)), which
  // Boost.Math's quantile meets to 1e-8.
  const struct {
    int df;
    double t;
  } known[] = {{1, 12.706204736}, {2, 4.302652730},  {3, 3.182446305},   {5, 2.570581836},
               {10, 2.228138852}, {20, 2.085963447}, {30, 2.042272456},  {31, 2.039513446},
               {40, 2.021075390}, {60, 2.000297822}, {120, 1.979930405}, {1000, 1.962339081}};
  for (const auto& k : known) {
    EXPECT_NEAR(t_quantile_975(k.df), k.t, 1e-8) << "df " << k.df;
  }
  // Decreasing towards the normal quantile.
  for (int df = 1; df < 200; ++df) EXPECT_GT(t_quantile_975(df), t_quantile_975(df + 1)) << df;
  EXPECT_NEAR(t_quantile_975(1000000), 1.959966357, 1e-8);  // z + (z^3 + z) / (4 df) + ...
  EXPECT_THROW(t_quantile_975(0), InternalError);
}

TEST(Stats, MeanCiOnKnownData) {
  const Interval one = mean_ci95({2.5}, Over::kSeeds);
  EXPECT_EQ(one.n, 1);
  EXPECT_EQ(one.mean, 2.5);
  EXPECT_EQ(one.low, 2.5);
  EXPECT_EQ(one.high, 2.5);
  EXPECT_EQ(one.stddev, 0);

  // 1..5: mean 3, sample sd sqrt(2.5), half width t_{0.975,4} sd / sqrt(5).
  const Interval r = mean_ci95({4, 1, 5, 2, 3}, Over::kSeeds);
  EXPECT_EQ(r.n, 5);
  EXPECT_DOUBLE_EQ(r.mean, 3);
  EXPECT_DOUBLE_EQ(r.stddev, std::sqrt(2.5));
  const double half = t_quantile_975(4) * std::sqrt(2.5) / std::sqrt(5.0);
  EXPECT_NEAR(r.high - r.mean, half, 1e-12);
  EXPECT_NEAR(r.mean - r.low, half, 1e-12);
  EXPECT_NEAR(half, 2.776445105 * std::sqrt(0.5), 1e-3);

  const Interval same = mean_ci95({0.5, 0.5, 0.5}, Over::kSeeds);
  EXPECT_EQ(same.stddev, 0);
  EXPECT_EQ(same.low, same.high);
  EXPECT_THROW(mean_ci95({}, Over::kSeeds), InternalError);
}

TEST(Stats, WithinCutsTheIntervalAndKeepsTheMean) {
  const Interval r = within(mean_ci95({0.2, 0.9}, Over::kSeeds), 0, 1);
  EXPECT_DOUBLE_EQ(r.mean, 0.55);
  EXPECT_EQ(r.low, 0);
  EXPECT_EQ(r.high, 1);
  EXPECT_EQ(r.n, 2);
  const Interval inside = mean_ci95({0.5, 0.51, 0.52}, Over::kSeeds);
  const Interval same = within(inside, 0, 1);
  EXPECT_EQ(same.low, inside.low);
  EXPECT_EQ(same.high, inside.high);
}

TEST(Stats, MeanCiCoversTheTrueMeanNinetyFivePercentOfTheTime) {
  // Seeded normal samples of size 8 with mean 1.5: the interval holds 1.5 with probability
  // 0.95 (the t interval is exact for normal data). Over `trials` intervals the count lies
  // within 5 standard deviations of 0.95 trials (the table's 3 decimals move the coverage by
  // well under 1e-3).
  const int trials = 4000, n = 8;
  int covered = 0;
  std::vector<double> z(n);
  for (int t = 0; t < trials; ++t) {
    fill_normal(z.data(), z.size(), {17, Purpose::kTest, static_cast<uint32_t>(t), 0, 0});
    for (double& v : z) v = 1.5 + 0.3 * v;
    const Interval r = mean_ci95(z, Over::kSeeds);
    covered += r.low <= 1.5 && 1.5 <= r.high;
  }
  const double sd = std::sqrt(trials * 0.95 * 0.05);
  EXPECT_NEAR(covered, 0.95 * trials, 5 * sd);
}

}  // namespace
}  // namespace gift

namespace gift {
namespace {

// The one interval type says what it is over, and within() keeps it.
TEST(Interval, SaysWhatItIsOver) {
  const Interval d = mean_ci95({0.5, 0.6}, Over::kDraws);
  EXPECT_EQ(d.over, Over::kDraws);
  EXPECT_EQ(d.n, 2);
  EXPECT_EQ(within(mean_ci95({0.2, 0.9}, Over::kSeeds), 0, 1).over, Over::kSeeds);
  EXPECT_STREQ(to_string(Over::kDraws), "noise draws");
  EXPECT_STREQ(to_string(Over::kSeeds), "seeds");
  EXPECT_STREQ(to_string(Over::kImages), "images");
  EXPECT_STREQ(to_string(Over::kRepeats), "repeats");
  // {low, high} still reads as the interval (rows and tests write it so).
  const Interval lh = {0.1, 0.3};
  EXPECT_EQ(lh.low, 0.1);
  EXPECT_EQ(lh.high, 0.3);
}

}  // namespace
}  // namespace gift

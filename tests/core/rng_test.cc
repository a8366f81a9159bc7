// The counter-based streams: normal draws against Random123's own Box-Muller,
// prefixes, stream separation and moments.
#include "gift/core/rng.h"

#include <Random123/philox.h>
#include <gtest/gtest.h>

#include <Random123/boxmuller.hpp>
#include <cmath>
#include <vector>

namespace gift {
namespace {

TEST(Rng, NormalsMatchRandom123BoxMullerToAFewUlp) {
  // The reference: r123::boxmuller on the same Philox words, with libm's sin, cos and log.
  const RngStream s{42, Purpose::kTest, 7, 9, 3};
  const size_t n = 1000;  // several chunks and a ragged end
  std::vector<float> fast(n);
  fill_normal(fast.data(), n, s);
  std::vector<uint32_t> words(n);
  fill_uint32(words.data(), n, s);
  for (size_t i = 0; i + 3 < n; i += 4) {
    const r123::float2 p = r123::boxmuller(words[i], words[i + 1]);
    const r123::float2 q = r123::boxmuller(words[i + 2], words[i + 3]);
    const float ref[4] = {p.x, p.y, q.x, q.y};
    for (size_t k = 0; k < 4; ++k) {
      EXPECT_NEAR(fast[i + k], ref[k], 2e-6f * (1 + std::fabs(ref[k]))) << "draw " << i + k;
    }
  }
}

TEST(Rng, PrefixesAndChunkBoundariesGiveTheSameDraws) {
  const RngStream s{5, Purpose::kTrainNoise, 1, 2, 3};
  // fill_normal's vectorised Philox must give the same words: a normal is a function of its
  // two words only, so equal prefixes of different lengths and chunk boundaries agree.
  std::vector<float> a(300), b(1030);
  fill_normal(a.data(), a.size(), s);
  fill_normal(b.data(), b.size(), s);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "draw " << i;
}

TEST(Rng, DistinctStreamsAndPurposesDiffer) {
  std::vector<float> a(64), b(64), c(64);
  fill_normal(a.data(), a.size(), {1, Purpose::kTrainNoise, 0, 0, 0});
  fill_normal(b.data(), b.size(), {1, Purpose::kEvalNoise, 0, 0, 0});
  fill_normal(c.data(), c.size(), {1, Purpose::kTrainNoise, 0, 0, 1});
  size_t same_ab = 0, same_ac = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    same_ab += a[i] == b[i];
    same_ac += a[i] == c[i];
  }
  EXPECT_EQ(same_ab, 0u);
  EXPECT_EQ(same_ac, 0u);
}

TEST(Rng, NormalMomentsAndTails) {
  const size_t n = 1 << 20;
  std::vector<float> x(n);
  fill_normal(x.data(), n, {3, Purpose::kTest, 0, 0, 0});
  double sum = 0, sq = 0, beyond3 = 0;
  for (float v : x) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    sq += static_cast<double>(v) * v;
    beyond3 += std::fabs(v) > 3;
  }
  const double mean = sum / n, var = sq / n - mean * mean;
  EXPECT_NEAR(mean, 0, 5 * std::sqrt(1.0 / n));
  EXPECT_NEAR(var, 1, 5 * std::sqrt(2.0 / n));
  EXPECT_NEAR(beyond3 / n, 0.0026998, 5 * std::sqrt(0.0027 / n));
}

TEST(Rng, DoubleDrawsAreTheFloatDrawsWidened) {
  std::vector<float> f(70);
  std::vector<double> d(70);
  const RngStream s{9, Purpose::kTest, 1, 1, 1};
  fill_normal(f.data(), f.size(), s);
  fill_normal(d.data(), d.size(), s);
  for (size_t i = 0; i < f.size(); ++i) EXPECT_EQ(static_cast<double>(f[i]), d[i]);
}

TEST(Rng, UniformBelowStaysInRange) {
  const RngStream s{2, Purpose::kSample, 0, 0, 0};
  for (uint32_t bound : {1u, 2u, 7u, 1000u}) {
    for (uint64_t i = 0; i < 200; ++i) EXPECT_LT(uniform_below(s, i, bound), bound);
  }
}

}  // namespace
}  // namespace gift

// The counter-based streams: normal draws against Random123's own Box-Muller,
// prefixes, stream separation and moments; uniform integers, permutations and derived seeds.
#include "gift/core/rng.h"

#include <Random123/philox.h>
#include <gtest/gtest.h>

#include <Random123/boxmuller.hpp>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
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

// Every Purpose in the registry (core/rng.h), for checks that run over all of them.
const Purpose kAllPurposes[] = {
    Purpose::kInit,        Purpose::kShuffle,     Purpose::kTrainNoise, Purpose::kEvalNoise,
    Purpose::kDeviceNoise, Purpose::kFabrication, Purpose::kSample,     Purpose::kCalibSubset,
    Purpose::kLabSplit,    Purpose::kScoreSplit,  Purpose::kFitShuffle, Purpose::kRescaleSubset,
    Purpose::kTwinNoise,   Purpose::kCalibTwin,   Purpose::kRowGain,    Purpose::kColGain,
    Purpose::kTest};

std::vector<uint32_t> words(const RngStream& s, size_t n = 16) {
  std::vector<uint32_t> w(n);
  fill_uint32(w.data(), n, s);
  return w;
}

// Two word sequences share no position (a shared stream, or a shifted one, would).
size_t same_positions(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return same;
}

TEST(Rng, EveryPurposeGivesOtherDrawsForTheSameSeed) {
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}, uint64_t{0x9F7}}) {
    for (Purpose p : kAllPurposes) {
      for (Purpose q : kAllPurposes) {
        if (p == q) continue;
        EXPECT_EQ(same_positions(words({seed, p, 0, 0, 0}), words({seed, q, 0, 0, 0})), 0u)
            << "seed " << seed << ": purposes " << static_cast<uint32_t>(p) << " and "
            << static_cast<uint32_t>(q);
      }
    }
  }
}

TEST(Rng, EachStreamWordAndTheSeedChangeTheDraws) {
  const RngStream base{7, Purpose::kSample, 3, 4, 5};
  const std::vector<uint32_t> w = words(base);
  RngStream s = base;
  s.a = 4;
  EXPECT_EQ(same_positions(w, words(s)), 0u) << "a";
  s = base;
  s.b = 5;
  EXPECT_EQ(same_positions(w, words(s)), 0u) << "b";
  s = base;
  s.c = 6;
  EXPECT_EQ(same_positions(w, words(s)), 0u) << "c";
  s = base;
  s.seed = 8;
  EXPECT_EQ(same_positions(w, words(s)), 0u) << "seed";
  s = base;
  s.seed = base.seed | (uint64_t{1} << 40);  // the seed's high word counts too
  EXPECT_EQ(same_positions(w, words(s)), 0u) << "seed's high word";
  // A word moved from b to c is another stream (the words are not summed or shuffled).
  EXPECT_EQ(
      same_positions(words({7, Purpose::kSample, 3, 1, 0}), words({7, Purpose::kSample, 3, 0, 1})),
      0u);
  EXPECT_EQ(words(base), w);  // and a stream is a pure function of its key
}

TEST(Rng, DeriveSeedIsTheFirstTwoWordsAndDiffersPerPurpose) {
  std::set<uint64_t> seen;
  for (Purpose p : kAllPurposes) {
    const RngStream s{11, p, 2, 0, 0};
    const std::vector<uint32_t> w = words(s, 2);
    EXPECT_EQ(derive_seed(s), (uint64_t{w[0]} << 32) | w[1]);
    seen.insert(derive_seed(s));
  }
  EXPECT_EQ(seen.size(), std::size(kAllPurposes));
  EXPECT_NE(derive_seed({11, Purpose::kCalibTwin, 0, 0, 0}),
            derive_seed({11, Purpose::kCalibTwin, 1, 0, 0}));
  EXPECT_NE(derive_seed({11, Purpose::kCalibTwin, 0, 0, 0}),
            derive_seed({12, Purpose::kCalibTwin, 0, 0, 0}));
}

TEST(Rng, PermutationIsAPermutation) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{17}, size_t{1000}}) {
    std::vector<uint32_t> p = permutation(n, {4, Purpose::kTest, 1, 0, 0});
    ASSERT_EQ(p.size(), n);
    std::sort(p.begin(), p.end());
    std::vector<uint32_t> id(n);
    std::iota(id.begin(), id.end(), 0u);
    EXPECT_EQ(p, id) << "n = " << n;
  }
  const std::vector<uint32_t> a = permutation(1000, {4, Purpose::kTest, 1, 0, 0});
  EXPECT_EQ(permutation(1000, {4, Purpose::kTest, 1, 0, 0}), a);  // seeded
  EXPECT_NE(permutation(1000, {4, Purpose::kTest, 2, 0, 0}), a);
}

TEST(Rng, PermutationIsFisherYatesOnUniformBelow) {
  // The documented algorithm, written out: for i = n .. 2, swap i-1 with uniform_below(s, i, i).
  const RngStream s{21, Purpose::kShuffle, 3, 0, 0};
  for (size_t n : {size_t{2}, size_t{5}, size_t{300}}) {
    std::vector<uint32_t> expected(n);
    std::iota(expected.begin(), expected.end(), 0u);
    for (size_t i = n; i > 1; --i) {
      std::swap(expected[i - 1], expected[uniform_below(s, i, static_cast<uint32_t>(i))]);
    }
    EXPECT_EQ(permutation(n, s), expected) << "n = " << n;
  }
}

// Counts in `k` equally likely cells of `n` draws each lie within 5 standard deviations of
// n / k (a chance failure has probability about 6e-7 per cell).
void expect_uniform_counts(const std::vector<int>& counts, int n, const std::string& what) {
  const double k = static_cast<double>(counts.size()), p = 1 / k;
  const double sd = std::sqrt(n * p * (1 - p));
  for (size_t c = 0; c < counts.size(); ++c) {
    EXPECT_NEAR(counts[c], n * p, 5 * sd) << what << " cell " << c;
  }
}

TEST(Rng, UniformBelowAndPermutationAreUniform) {
  const int n = 60000;
  std::vector<int> below(7, 0);
  for (int i = 0; i < n; ++i) ++below[uniform_below({6, Purpose::kTest, 0, 0, 0}, i, 7)];
  expect_uniform_counts(below, n, "uniform_below(7)");
  // All 6 orders of 3 items, over streams that differ in c.
  std::vector<int> orders(6, 0);
  for (int i = 0; i < n; ++i) {
    const std::vector<uint32_t> p =
        permutation(3, {6, Purpose::kTest, 1, 0, static_cast<uint32_t>(i)});
    ++orders[p[0] * 2 + (p[1] > p[2] ? 1 : 0)];
  }
  expect_uniform_counts(orders, n, "orders of 3");
}

}  // namespace
}  // namespace gift

// The one FNV-1a (core/hash.h) and the one clock helper (core/clock.h).
#include "gift/core/hash.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "gift/core/clock.h"

namespace gift {
namespace {

// FNV-1a 64 over bytes (prime 0x100000001b3), from gift's offset basis: the published basis
// 14695981039346656037 with its last digit lost, as gift has hashed since its first sweep
// (device seeds and fingerprints derive from it, so it stays). Values from a Python one-liner.
TEST(Fnv1a, MatchesTheReferenceValues) {
  EXPECT_EQ(kFnvOffset, 1469598103934665603ULL);
  EXPECT_EQ(fnv1a(""), 0x14650fb0739d0383ULL);
  EXPECT_EQ(fnv1a("a"), 0x44bd8ad473cd9906ULL);
  EXPECT_EQ(fnv1a("foobar"), 0x88fad7c0a8ff07f2ULL);
}

// Hashing in pieces, each continuing from the last, equals hashing the whole.
TEST(Fnv1a, ContinuesAcrossPieces) {
  const std::string s = "seed|method|1000|3000";
  uint64_t h = kFnvOffset;
  for (char c : s) h = fnv1a(&c, 1, h);
  EXPECT_EQ(h, fnv1a(s));
  EXPECT_NE(fnv1a("1|gift"), fnv1a("1|hil"));
}

TEST(Clock, SecondsSinceAndEta) {
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double s = seconds_since(start);
  EXPECT_GE(s, 0.019);
  EXPECT_LT(s, 60.0);
  // One part done in s seconds, three left: about 3 s more (measured after the first read).
  const double eta = eta_seconds(start, 1, 3);
  EXPECT_GE(eta, 3 * s);
  EXPECT_LT(eta, 3 * s + 60.0);
}

}  // namespace
}  // namespace gift

#include "gift/core/rng.h"

#include <Random123/philox.h>

#include <Eigen/Core>
#include <Random123/uniform.hpp>
#include <algorithm>

namespace gift {
namespace {

using Philox = r123::Philox4x32;

// splitmix64 finaliser: decorrelates (seed, purpose) before they become a key.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Philox::key_type make_key(const RngStream& s) {
  uint64_t k = mix64(s.seed ^ mix64(static_cast<uint64_t>(s.purpose)));
  Philox::key_type key = {{static_cast<uint32_t>(k), static_cast<uint32_t>(k >> 32)}};
  return key;
}

Philox::ctr_type block(const Philox::key_type& key, const RngStream& s, uint32_t i) {
  Philox::ctr_type ctr = {{i, s.a, s.b, s.c}};
  return Philox()(ctr, key);
}

// Philox4x32-10 of `nb` consecutive counters (first, a, b, c), first + i for block i, in
// structure-of-arrays form so that the compiler vectorises the rounds across blocks. The words
// are those of r123::Philox4x32 (checked bitwise in tests/core/rng_test.cc).
constexpr size_t kBlocks = 64;  // blocks per chunk: 256 words
struct Words {
  alignas(64) uint32_t w[4][kBlocks];
};

void philox_blocks(const Philox::key_type& key, const RngStream& s, uint32_t first, size_t nb,
                   Words& out) {
  uint32_t* c0 = out.w[0];
  uint32_t* c1 = out.w[1];
  uint32_t* c2 = out.w[2];
  uint32_t* c3 = out.w[3];
  const size_t lanes = std::min(kBlocks, (nb + 15) / 16 * 16);  // whole vectors
  for (size_t i = 0; i < lanes; ++i) {
    c0[i] = first + static_cast<uint32_t>(i);
    c1[i] = s.a;
    c2[i] = s.b;
    c3[i] = s.c;
  }
  uint32_t k0 = key.v[0], k1 = key.v[1];
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += PHILOX_W32_0;
      k1 += PHILOX_W32_1;
    }
    for (size_t i = 0; i < lanes; ++i) {
      const uint64_t p0 = static_cast<uint64_t>(PHILOX_M4x32_0) * c0[i];
      const uint64_t p1 = static_cast<uint64_t>(PHILOX_M4x32_1) * c2[i];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[i] ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[i] ^ k1;
      c0[i] = n0;
      c1[i] = static_cast<uint32_t>(p1);
      c2[i] = n2;
      c3[i] = static_cast<uint32_t>(p0);
    }
  }
}

// Box-Muller as r123::boxmuller does it (angle from words 0 and 2, radius from words 1 and
// 3; the same uneg11 and u01 maps), with Eigen's vectorised sin, cos and log in place of
// libm's: the draws agree with r123's to a few ulp, not bitwise.
template <class T>
void fill_normal_impl(T* out, size_t n, const RngStream& s) {
  const Philox::key_type key = make_key(s);
  Words words;
  using Arr = Eigen::Array<float, 2 * kBlocks, 1>;
  Arr angle, radius, sn, cs;
  constexpr float kNeg11 = 1.0f / 2147483648.0f, kU01 = 1.0f / 4294967296.0f;
  constexpr float kPi = 3.1415926535897932f;
  for (size_t i = 0; i < n; i += 4 * kBlocks) {
    const size_t nb = std::min(kBlocks, (n - i + 3) / 4);
    philox_blocks(key, s, static_cast<uint32_t>(i / 4), nb, words);
    for (size_t b = 0; b < nb; ++b) {
      angle[2 * b] =
          kPi * (static_cast<float>(static_cast<int32_t>(words.w[0][b])) * kNeg11 + 0.5f * kNeg11);
      angle[2 * b + 1] =
          kPi * (static_cast<float>(static_cast<int32_t>(words.w[2][b])) * kNeg11 + 0.5f * kNeg11);
      radius[2 * b] = static_cast<float>(words.w[1][b]) * kU01 + 0.5f * kU01;
      radius[2 * b + 1] = static_cast<float>(words.w[3][b]) * kU01 + 0.5f * kU01;
    }
    // Whole 16-lane groups only: Eigen finishes a ragged tail with scalar libm calls, which
    // would make a draw depend on its position in the chunk. Unused lanes hold 0.5.
    const size_t used = 2 * nb, h16 = (used + 15) / 16 * 16;
    for (size_t k = used; k < h16; ++k) angle[k] = radius[k] = 0.5f;
    const Eigen::Index h = static_cast<Eigen::Index>(h16);
    radius.head(h) = (-2.0f * radius.head(h).log()).sqrt();
    sn.head(h) = angle.head(h).sin() * radius.head(h);
    cs.head(h) = angle.head(h).cos() * radius.head(h);
    const size_t m = std::min(n - i, 4 * kBlocks);
    for (size_t k = 0; k < m; ++k) {
      const size_t pair = k / 2;  // (block, half) = (k / 4, (k / 2) % 2)
      out[i + k] = static_cast<T>(k % 2 == 0 ? sn[static_cast<Eigen::Index>(pair)]
                                             : cs[static_cast<Eigen::Index>(pair)]);
    }
  }
}

}  // namespace

void fill_normal(float* out, size_t n, const RngStream& s) { fill_normal_impl(out, n, s); }
void fill_normal(double* out, size_t n, const RngStream& s) { fill_normal_impl(out, n, s); }

void fill_uint32(uint32_t* out, size_t n, const RngStream& s) {
  const Philox::key_type key = make_key(s);
  for (size_t i = 0; i < n; i += 4) {
    const Philox::ctr_type r = block(key, s, static_cast<uint32_t>(i / 4));
    for (size_t k = 0; k < 4 && i + k < n; ++k) out[i + k] = r[k];
  }
}

uint32_t uniform_below(const RngStream& s, uint64_t index, uint32_t bound) {
  const Philox::ctr_type r = block(make_key(s), s, static_cast<uint32_t>(index));
  return static_cast<uint32_t>((static_cast<uint64_t>(r[0]) * bound) >> 32);
}

std::vector<uint32_t> permutation(size_t n, const RngStream& s) {
  std::vector<uint32_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint32_t>(i);
  for (size_t i = n; i > 1; --i) {
    const uint32_t j = uniform_below(s, i, static_cast<uint32_t>(i));
    std::swap(p[i - 1], p[j]);
  }
  return p;
}

uint64_t derive_seed(const RngStream& s) {
  uint32_t w[2];
  fill_uint32(w, 2, s);
  return (static_cast<uint64_t>(w[0]) << 32) | w[1];
}

}  // namespace gift

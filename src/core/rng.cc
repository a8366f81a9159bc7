#include "gift/core/rng.h"

#include <Random123/boxmuller.hpp>
#include <Random123/philox.h>
#include <Random123/uniform.hpp>

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

template <class T>
void fill_normal_impl(T* out, size_t n, const RngStream& s) {
  const Philox::key_type key = make_key(s);
  for (size_t i = 0; i < n; i += 4) {
    const Philox::ctr_type r = block(key, s, static_cast<uint32_t>(i / 4));
    const r123::float2 p = r123::boxmuller(r[0], r[1]);
    const r123::float2 q = r123::boxmuller(r[2], r[3]);
    const float v[4] = {p.x, p.y, q.x, q.y};
    for (size_t k = 0; k < 4 && i + k < n; ++k) out[i + k] = static_cast<T>(v[k]);
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

}  // namespace gift

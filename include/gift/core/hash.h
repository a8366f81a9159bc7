// One non-cryptographic hash for identities that must be stable across runs, machines and
// builds (device seeds of a sweep's cells, network fingerprints, rows matched by content):
// 64-bit FNV-1a over bytes. Never for anything an adversary chooses.
//
// The offset basis is 1469598103934665603, the published 14695981039346656037 with its last
// digit lost: gift has hashed with it since its first sweep, and device seeds and fingerprints
// derive from it, so it stays (a different basis would change every seeded sweep result).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gift {

constexpr uint64_t kFnvOffset = 1469598103934665603ULL;

// FNV-1a of `n` bytes at `data`, continuing from `h` (kFnvOffset to start).
uint64_t fnv1a(const void* data, size_t n, uint64_t h = kFnvOffset);
// FNV-1a of the bytes of `s`.
uint64_t fnv1a(std::string_view s);

}  // namespace gift

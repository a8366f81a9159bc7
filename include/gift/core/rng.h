// Counter-based randomness (STYLE.md 5). Every random number in gift is a pure
// function of (seed, purpose, stream words, index): Philox4x32-10 from Random123,
// keyed by (seed, purpose), with counter (index block, a, b, c). No state is
// carried between calls, so results never depend on thread count or order of work.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gift {

// What a stream of random numbers is for. Distinct purposes never share draws.
enum class Purpose : uint32_t {
  kInit = 1,         // weight initialisation
  kShuffle = 2,      // epoch shuffling (a = epoch)
  kTrainNoise = 3,   // per-pass noise while training (a = step)
  kEvalNoise = 4,    // Monte-Carlo evaluation (a = repeat)
  kDeviceNoise = 5,  // a simulated device's per-pass noise (a = pass)
  kFabrication = 6,  // a simulated device's static errors
  kSample = 7,       // choosing subsets (calibration sets, ...)
  kTest = 100,       // tests
};

// One stream: (seed, purpose) select the key, (a, b, c) the stream inside it.
struct RngStream {
  uint64_t seed = 0;
  Purpose purpose = Purpose::kTest;
  uint32_t a = 0, b = 0, c = 0;
};

// Writes out[0..n) = standard normal draws number [0, n) of `stream` (Box-Muller
// on Philox output, computed in float; converted to T).
void fill_normal(float* out, size_t n, const RngStream& stream);
void fill_normal(double* out, size_t n, const RngStream& stream);

// Writes out[0..n) = uniform 32-bit words number [0, n) of `stream`.
void fill_uint32(uint32_t* out, size_t n, const RngStream& stream);

// A uniform integer in [0, bound) (bound >= 1) for draw `index` of `stream`
// (Lemire's multiply-shift, with negligible bias for bound << 2^32).
uint32_t uniform_below(const RngStream& stream, uint64_t index, uint32_t bound);

}  // namespace gift

// Counter-based randomness (STYLE.md 5). Every random number in gift is a pure
// function of (seed, purpose, stream words, index): Philox4x32-10 from Random123,
// keyed by (seed, purpose), with counter (index block, a, b, c). No state is
// carried between calls, so results never depend on thread count or order of work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gift {

// What a stream of random numbers is for: the one registry of named streams. Distinct purposes
// never share draws (the purpose is part of the key), so adding a purpose never shifts the draws
// of an existing one. Values are part of every seeded result: never renumber, only append.
enum class Purpose : uint32_t {
  kInit = 1,            // weight initialisation (a = layer)
  kShuffle = 2,         // training's epoch shuffling (a = epoch)
  kTrainNoise = 3,      // per-pass noise while training (a = step)
  kEvalNoise = 4,       // Monte-Carlo evaluation (a = repeat)
  kDeviceNoise = 5,     // a simulated device's per-pass noise (a = pass)
  kFabrication = 6,     // a simulated device's static errors (a = layer)
  kSample = 7,          // calibration's bootstrap resampling (a = replicate, b = statistic)
  kCalibSubset = 8,     // calibration_subset: the lab's images drawn from a training set
  kLabSplit = 9,        // lab_split: the lab's images and the judged rest of a test set
  kScoreSplit = 10,     // fine-tuning: the calibration set's scoring hold-out and fitted part
  kFitShuffle = 11,     // fine-tuning: order of the fitted images (a = epoch, b = method)
  kRescaleSubset = 12,  // gift's rescale step: the images it judges scales on
  kTwinNoise = 13,      // fine-tuning's digital-twin forwards, a NoiseDraws stream: a = pass,
                        // b = sample (row), c = noise_stream_word(layer, site). Pass 0: every
                        // twin_loss (the same draws for every candidate: common random numbers);
                        // pass 1 + r: repeat r of the rescale step's twin error rates
  kCalibTwin = 14,      // calibration's simulated twin (its device seed, derive_seed)
  kRowGain = 15,        // a simulated device's static gain error of each output row (a = layer)
  kColGain = 16,        // a simulated device's static gain error of each input column (a = layer)
  kFinetuneNoise = 17,  // the twin's per-step noise while fine-tuning (a = step); its own
                        // purpose, so fine-tuning never replays pre-training's draws
  kTest = 100,          // tests
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

// A uniform permutation of [0, n) (Fisher-Yates; swap i-1 with uniform_below(stream, i, i)).
std::vector<uint32_t> permutation(size_t n, const RngStream& stream);

// A 64-bit seed for another seeded object (a simulated device, ...): words 0 and 1 of `stream`.
uint64_t derive_seed(const RngStream& stream);

// A uniform integer in [0, bound) (bound >= 1) for draw `index` of `stream`
// (Lemire's multiply-shift, with negligible bias for bound << 2^32).
uint32_t uniform_below(const RngStream& stream, uint64_t index, uint32_t bound);

}  // namespace gift

// Noise-aware training (SPEC §2): mini-batch softmax cross-entropy under the
// assumed NoiseModel, weights projected onto [-w_max, w_max] after every step.
// Everything random is keyed by the seed: shuffling by (seed, epoch), noise by
// (seed, step, position in batch), so a run is bitwise reproducible for any
// thread count and a resumed run continues exactly where it stopped.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "gift/core/matrix.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"
#include "gift/train/optimizer.h"

namespace gift {

enum class LrSchedule { kConstant, kCosine };
const char* to_string(LrSchedule s);
LrSchedule parse_lr_schedule(const std::string& name);  // "constant" | "cosine"

struct TrainOptions {
  int epochs = 10;
  LrSchedule schedule = LrSchedule::kCosine;  // cosine: lr * (1 + cos(pi t / T)) / 2 over all steps
  int batch_size = 128;
  OptimizerOptions optimizer;
  NoiseModel noise;  // the assumed noise (empty = noiseless for any depth)
  uint64_t seed = 1;
  int threads = 0;  // 0 = all cores; never changes the result
  // Throws InputError naming the bad option. Changes nothing.
  void validate(const Architecture& arch) const;
  // The noise to train under: `noise`, or zeros on every layer of `arch` when it is empty.
  NoiseModel resolved_noise(const Architecture& arch) const;
};

struct EpochLog {
  int epoch = 0;        // 1-based
  double loss = 0;      // mean training loss over the epoch (under the assumed noise)
  double accuracy = 0;  // training accuracy over the epoch (under the assumed noise)
  double seconds = 0;
};

// What a resume needs besides the weights.
struct TrainState {
  int epochs_done = 0;
  OptimizerState optimizer;
};

struct TrainSummary {
  std::vector<EpochLog> epochs;
  bool diverged = false;  // a non-finite loss stopped training (weights are the last finite ones)
  std::string message;
  double seconds = 0;
  double samples_per_second = 0;
  std::string report() const;
};

struct TrainCallbacks {
  std::function<void(size_t done, size_t total, double loss)> progress;  // within an epoch
  std::function<void(const EpochLog&, const TrainState&)> epoch_end;     // after each epoch
  std::function<bool()> stop;  // checked after each epoch: true ends training early (resumable)
};

// Trains `net` on images (N x I) and labels (N) from state.epochs_done up to
// options.epochs, updating `state`.
TrainSummary train(Network& net, const Mat& images, const std::vector<int>& labels,
                   TrainOptions options, TrainState& state, const TrainCallbacks& callbacks = {});

// The permutation of [0, n) that training uses in `epoch` (0-based) for `seed`.
std::vector<uint32_t> epoch_permutation(size_t n, uint64_t seed, int epoch);

}  // namespace gift

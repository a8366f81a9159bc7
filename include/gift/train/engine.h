// Multi-threaded loss and gradient of a batch, bitwise independent of the thread
// count: the batch is cut into fixed blocks of kRowBlock rows (forward, loss and
// backward of one block is one task) and the weight gradient into fixed blocks of
// kGradRows output neurons per layer (one task each, summing the row blocks in
// order). Threads only choose which task runs where, never how a sum is split.
#pragma once

#include <vector>

#include "gift/core/matrix.h"
#include "gift/core/threads.h"
#include "gift/onn/forward.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"

namespace gift {

constexpr int kRowBlock = 64;
constexpr int kGradRows = 32;

struct BatchResult {
  double loss = 0;  // mean cross-entropy over the batch
  int correct = 0;  // rows classified correctly (under this call's noise)
};

template <class T>
class EngineT {
 public:
  explicit EngineT(int threads = 0) : threads_(resolve_threads(threads)) {}
  int threads() const { return threads_; }

  // x: B x I_0, labels: B entries. Overwrites grad (resized to net.params()) with the
  // gradient of the mean loss. Row r of x uses the draws of sample draws.first_sample + r.
  BatchResult loss_and_grad(const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x,
                            const int* labels, const NoiseModel& noise, const NoiseDraws& draws,
                            VecT<T>& grad);

  // Forward only: predicted class of each row into `pred` (B entries); returns the
  // summed loss if labels is non-null. Row blocks run in parallel.
  double predict(const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x, const int* labels,
                 const NoiseModel& noise, const NoiseDraws& draws, int* pred);

  // `repeats` Monte-Carlo repeats over x: repeat p uses draws with call draws.call + p, writes
  // its predictions to pred[p * N .. (p + 1) * N) and, if labels and losses are non-null, its
  // summed loss to losses[p]. Bit for bit the same as `repeats` calls of predict, but layer 0's
  // noiseless product is computed once per row block instead of once per repeat.
  void predict_repeats(const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x,
                       const int* labels, const NoiseModel& noise, const NoiseDraws& draws,
                       int repeats, int* pred, double* losses);

 private:
  int threads_;
  std::vector<Tape<T>> tapes_;    // one per row block
  std::vector<MatT<T>> dlogits_;  // one per row block
  WeightStats<T> w_stats_;        // weight_stats of this step
  std::vector<MatT<T>> stacked_;  // per layer: the parts of stack_parts (engine.cc), B rows
};

using Engine = EngineT<float>;

}  // namespace gift

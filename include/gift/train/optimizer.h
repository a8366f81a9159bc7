// Optimizers over the flat parameter buffer (one loop each).
#pragma once

#include <cstdint>
#include <string>

#include "gift/core/matrix.h"

namespace gift {

enum class OptimizerKind { kAdam, kSgd };
const char* to_string(OptimizerKind k);
OptimizerKind parse_optimizer(const std::string& name);  // "adam" | "sgd"

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::kAdam;
  double lr = 1e-3;
  double momentum = 0.9;                          // SGD
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam
  double weight_decay = 0;                        // L2, added to the gradient
  void validate() const;                          // InputError naming the option on a bad value
};

// State that must survive a resume: moments and the step count.
struct OptimizerState {
  Vec m;  // Adam first moment / SGD velocity
  Vec v;  // Adam second moment (empty for SGD)
  int64_t step = 0;
};

// One step: params -= update(grad). Resizes an empty state on first use. Elementwise, so
// `threads` (>= 1; the engine's count) changes the speed, never the result.
void optimizer_step(Vec& params, const Vec& grad, OptimizerState& state,
                    const OptimizerOptions& opts, int threads = 1);

}  // namespace gift

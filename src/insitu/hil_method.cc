// hil, hardware in the loop: every step runs its batch on the device with taps and
// backpropagates through the measured sums, with the calibrated noise's draws inferred
// from them (measured_gradient, onn/forward.h): under the calibrated per-pass estimate, the
// chip's static weight error a fixed offset (not draws), the device's output clip on every
// layer's input; reprograms the device every step. Adam (or SGD) under FinetuneOptions'
// schedule (cosine over the planned steps by default), the optimizer's step split over
// `threads`; the inferred gradient itself is one thread.
#include <cmath>

#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/core/threads.h"
#include "gift/onn/forward.h"
#include "gift/train/loss.h"
#include "gift/train/optimizer.h"
#include "method_base.h"

namespace gift {
namespace finetune_detail {
namespace {

class HilMethod : public MethodBase {
 public:
  std::string name() const override { return "hil"; }

 protected:
  Candidate tune(Network& net, Context& c) override;
};

Candidate HilMethod::tune(Network& net, Context& c) {
  const FinetuneOptions& o = *c.o;
  FinetuneReport& r = *c.r;
  if (!c.device->info().taps) {
    throw InputError("method hil needs a device that exposes every layer's detected sums");
  }
  const size_t N = c.fit.size(), B = static_cast<size_t>(o.batch_size);
  // Passes: the candidate's confirmation first, then up to half of the rest for checks,
  // the remainder for steps.
  const uint64_t left = c.passes_left();
  int checks = affordable_checks(c, kNoLimit);
  uint64_t step_passes = kNoLimit;
  if (left != kNoLimit) {
    const uint64_t avail = left - c.confirm_cost;
    checks = affordable_checks(c, avail / 2);
    step_passes = avail - static_cast<uint64_t>(checks) * c.check_cost;
  }
  bool limited = false;
  const std::vector<size_t> steps =
      plan_steps(N, B, o.epochs, 1, c.gradients_left(), 1, step_passes, &limited);
  r.budget_limited = limited;
  // The draws are inferred under the calibrated per-pass noise with the static weight error
  // apart (a fixed offset of the residual, not per-pass weight noise as in the twin's
  // noise_used); without calibration, under the noise given.
  NoiseModel noise = r.noise_used;
  std::vector<double> static_weight;
  if (r.calibrated && r.calibration.per_layer) {
    noise = r.calibration.estimate();
    noise.output_clip = r.noise_used.output_clip;
    for (const LayerCalibration& l : r.calibration.layers)
      static_weight.push_back(l.static_weight.mean);
  }
  const int threads = resolve_threads(o.threads);
  OptimizerState state;
  Mat xb;
  std::vector<int> yb;
  Vec g;
  std::vector<uint32_t> perm;
  size_t pos = N;
  int epoch = -1;
  const auto step = [&](size_t i, size_t n) {
    if (pos >= N) {
      perm = permutation(
          N, RngStream{o.seed, Purpose::kFitShuffle, static_cast<uint32_t>(++epoch), kHilStream});
      pos = 0;
    }
    c.fit.gather(perm, pos, n, xb, yb);
    pos += n;
    c.device->program(net);
    const DeviceOutput out = c.device->forward(xb, true);
    Mat dlogits;
    softmax_xent<float>(out.out, yb.data(), &dlogits, 1.0f / static_cast<float>(n), nullptr);
    measured_gradient<float>(g, net, xb, out.sums, out.out, noise, dlogits, static_weight);
    r.sample_gradients += n;
    OptimizerOptions step_opts = o.optimizer;
    if (o.schedule == LrSchedule::kCosine) {  // cosine over the plan, as gift and diff
      step_opts.lr *= 0.5 * (1 + std::cos(3.141592653589793 * static_cast<double>(i) /
                                          static_cast<double>(steps.size())));
    }
    optimizer_step(net.params(), g, state, step_opts, threads);
    net.project();
  };
  return run_plan(net, c, steps, checks, step, nullptr);
}

}  // namespace
}  // namespace finetune_detail

std::unique_ptr<FinetuneMethod> make_hil_method() {
  return std::make_unique<finetune_detail::HilMethod>();
}

}  // namespace gift

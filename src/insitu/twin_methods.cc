// gift, diff and retrain: twin gradients under the calibrated noise; the device only
// calibrates and scores (finetune.h says what each does).
#include <algorithm>
#include <cmath>

#include "gift/core/rng.h"
#include "gift/core/stats.h"
#include "gift/train/optimizer.h"
#include "method_base.h"

namespace gift {
namespace finetune_detail {
namespace {

// The same network with more transmission onto every detector of layer l (weights times c_l).
// Physical chain: the electronic gain of layer l divided by c_l, so the noiseless function is
// exactly unchanged and only layer l's own signal grows against the detector's noise (by c_l
// against thermal noise, sqrt(c_l) against shot noise, not at all against relative noise);
// nothing reaches the next layer's modulator beyond its range. Legacy chain (no gains, no power
// budget; kept for continuity): biases times c_0...c_l, so for positively homogeneous
// activations the logits scale by the product of the factors, a freedom no chip has.
Network rescaled(const Network& net, const std::vector<double>& c) {
  Network out = net;
  if (net.has_gain()) {
    for (size_t l = 0; l < net.num_layers(); ++l) {
      out.weight(l) *= static_cast<float>(c[l]);
      out.gain(l) /= static_cast<float>(c[l]);
    }
    return out;
  }
  double cum = 1;
  for (size_t l = 0; l < net.num_layers(); ++l) {
    cum *= c[l];
    out.weight(l) *= static_cast<float>(c[l]);
    out.bias(l) *= static_cast<float>(cum);
  }
  return out;
}

// How far each layer may be scaled: up to the full weight range. Leaving headroom
// (0.75 w_max) lost, recovery 0.87 against 0.98 at true sum_add 1.0 (docs/method.md).
std::vector<double> rescale_caps(const Network& net) {
  std::vector<double> cap(net.num_layers());
  for (size_t l = 0; l < cap.size(); ++l) {
    const double m = net.weight(l).cwiseAbs().maxCoeff();
    cap[l] = m > 0 ? std::max(1.0, net.arch().w_max / m) : 1.0;
  }
  return cap;
}

// The twin's structured first step: scales every layer towards the weight range, by the
// fraction t of the way (in log scale) that the twin's loss under the calibrated noise
// prefers, chosen on a grid with common random numbers. Returns the images forwarded.
}  // namespace

uint64_t rescale_step(Network& net, Engine& engine, const RowSet& fit, const NoiseModel& noise,
                      const FinetuneOptions& o, std::vector<double>* chosen) {
  const size_t L = net.num_layers();
  const std::vector<double> cap = rescale_caps(net);
  const size_t n = std::min<size_t>(fit.size(), static_cast<size_t>(o.rescale_images));
  const std::vector<uint32_t> perm =
      permutation(fit.size(), RngStream{o.seed, Purpose::kRescaleSubset});
  Mat x;
  std::vector<int> y;
  fit.gather(perm, 0, n, x, y);
  // The criterion is the twin's error rate: its loss also rewards smaller logits, which
  // would undo the scaling the noise asks for. Per image, errors over a few draws (common
  // to every candidate); a scale is taken only if it beats the start by enough paired errors.
  const uint32_t reps = static_cast<uint32_t>(o.rescale_repeats);
  const auto twin_errors = [&](const Network& candidate) {
    std::vector<double> err(n, 0.0);
    std::vector<int> pred(n);
    for (uint32_t rep = 0; rep < reps; ++rep) {
      const NoiseDraws d{o.seed, Purpose::kTwinNoise, 1 + rep, 0};
      engine.predict(candidate, x, nullptr, noise, d, pred.data());
      for (size_t i = 0; i < n; ++i) err[i] += pred[i] != y[i] ? 1.0 / reps : 0.0;
    }
    return err;
  };
  const std::vector<double> start_err = twin_errors(net);
  uint64_t forwards = reps * n;
  double best_gain = 0;
  double best_t = 0;
  const double step = 1.0 / o.rescale_points;  // 0.2 at the default 5, exactly as before
  for (int k = 1; k <= o.rescale_points; ++k) {
    const double t = step * k;
    std::vector<double> c(L);
    for (size_t l = 0; l < L; ++l) c[l] = std::pow(cap[l], t);
    const std::vector<double> err = twin_errors(rescaled(net, c));
    forwards += reps * n;
    std::vector<double> d(n);
    for (size_t i = 0; i < n; ++i) d[i] = start_err[i] - err[i];
    const Interval ci = mean_ci95(d, Over::kImages);
    const double se = ci.stddev / std::sqrt(static_cast<double>(n));
    if (ci.mean > o.rescale_threshold * se && ci.mean > best_gain) {
      best_gain = ci.mean;
      best_t = t;
    }
  }
  chosen->assign(L, 1.0);
  for (size_t l = 0; l < L; ++l) (*chosen)[l] = std::pow(cap[l], best_t);
  if (best_t > 0) net = rescaled(net, *chosen);
  return forwards;
}

namespace {

class TwinMethod : public MethodBase {
 public:
  enum Kind { kGift = kGiftStream, kDiff = kDiffStream, kRetrain = kRetrainStream };
  explicit TwinMethod(Kind kind) : kind_(kind) {}
  std::string name() const override {
    return kind_ == kGift ? "gift" : kind_ == kDiff ? "diff" : "retrain";
  }

 protected:
  bool fits_training() const override { return kind_ == kRetrain; }
  Candidate tune(Network& net, Context& c) override;

 private:
  Kind kind_;
};

Candidate TwinMethod::tune(Network& net, Context& c) {
  const FinetuneOptions& o = *c.o;
  FinetuneReport& r = *c.r;
  Engine engine(o.threads);
  const size_t N = c.fit.size();
  const size_t B = kind_ == kRetrain ? 128 : static_cast<size_t>(o.batch_size);
  const int epochs = kind_ == kRetrain ? o.retrain_epochs : o.epochs;
  const uint64_t per_image = kind_ == kDiff ? 2 : 1;
  bool limited = false;
  const std::vector<size_t> steps =
      plan_steps(N, B, epochs, per_image, c.gradients_left(), 0, kNoLimit, &limited);
  r.budget_limited = limited;
  const uint64_t reserve = c.confirm_cost;  // the candidate's confirmation
  const uint64_t left = c.passes_left();
  const int checks = affordable_checks(c, left == kNoLimit ? kNoLimit : left - reserve);
  bool start_moved = false;
  if (kind_ == kGift && o.rescale) {
    r.twin_forwards += rescale_step(net, engine, c.fit, r.noise_used, o, &r.rescale);
    for (double v : r.rescale) start_moved = start_moved || v != 1.0;
  }
  const double start_twin = twin_loss(engine, net, c.check_images(), r.noise_used, o.seed);
  OptimizerState state;
  Mat xb;
  std::vector<int> yb;
  Vec g, g_hat;
  std::vector<uint32_t> perm;
  size_t pos = N;
  int epoch = -1;
  const auto step = [&](size_t i, size_t n) {
    if (pos >= N) {
      perm = permutation(N, RngStream{o.seed, Purpose::kFitShuffle, static_cast<uint32_t>(++epoch),
                                      static_cast<uint32_t>(kind_)});
      pos = 0;
    }
    c.fit.gather(perm, pos, n, xb, yb);
    pos += n;
    const NoiseDraws d{o.seed, Purpose::kFinetuneNoise, static_cast<uint32_t>(i), 0};
    engine.loss_and_grad(net, xb, yb.data(), r.noise_used, d, g);
    r.sample_gradients += n;
    if (kind_ == kDiff) {
      engine.loss_and_grad(net, xb, yb.data(), o.assumed, d, g_hat);  // same draws
      g -= g_hat;
      r.sample_gradients += n;
    }
    OptimizerOptions step_opts = o.optimizer;
    if (kind_ == kRetrain || o.schedule == LrSchedule::kCosine) {  // cosine over the plan
      step_opts.lr *= 0.5 * (1 + std::cos(3.141592653589793 * static_cast<double>(i) /
                                          static_cast<double>(steps.size())));
    }
    optimizer_step(net.params(), g, state, step_opts, engine.threads());
    net.project();
  };
  const Candidate best = run_plan(
      net, c, steps, checks, step,
      [&](const Network& n) {
        return twin_loss(engine, n, c.check_images(), r.noise_used, o.seed);
      },
      start_moved);
  finish_alignment(r, start_twin, c.check_start_loss());
  return best;
}

}  // namespace
}  // namespace finetune_detail

using finetune_detail::TwinMethod;

Network oracle_reference(const Network& net, const data::Dataset& data, const NoiseModel& truth,
                         uint64_t seed, int threads) {
  Network out = net;
  if (!net.has_gain() || data.images.rows() == 0) return out;
  finetune_detail::RowSet rows;
  rows.images = &data.images;
  rows.labels = &data.labels;
  rows.rows.resize(static_cast<size_t>(data.images.rows()));
  for (size_t i = 0; i < rows.rows.size(); ++i) rows.rows[i] = static_cast<uint32_t>(i);
  Engine engine(threads);
  std::vector<double> chosen;
  FinetuneOptions o;  // the rescale step's defaults
  o.seed = seed;
  finetune_detail::rescale_step(out, engine, rows, truth, o, &chosen);
  return out;
}

std::unique_ptr<FinetuneMethod> make_gift_method() {
  return std::make_unique<TwinMethod>(TwinMethod::kGift);
}
std::unique_ptr<FinetuneMethod> make_diff_method() {
  return std::make_unique<TwinMethod>(TwinMethod::kDiff);
}
std::unique_ptr<FinetuneMethod> make_retrain_method() {
  return std::make_unique<TwinMethod>(TwinMethod::kRetrain);
}

}  // namespace gift

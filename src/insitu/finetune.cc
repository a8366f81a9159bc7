#include "gift/insitu/finetune.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <unordered_map>

#include "gift/core/error.h"
#include "gift/core/stats.h"
#include "gift/io/model_json.h"
#include "gift/onn/forward.h"
#include "gift/train/engine.h"
#include "gift/train/loss.h"
#include "gift/train/trainer.h"
#include "method_base.h"

namespace gift {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Wraps a device and adds up the wall time spent inside it.
class TimedDevice : public Device {
 public:
  explicit TimedDevice(Device& d) : d_(d) {}
  DeviceInfo info() const override { return d_.info(); }
  void program(const Network& net) override {
    const auto t0 = Clock::now();
    d_.program(net);
    seconds += seconds_since(t0);
  }
  DeviceOutput forward(const Mat& x, bool taps) override {
    const auto t0 = Clock::now();
    DeviceOutput out = d_.forward(x, taps);
    seconds += seconds_since(t0);
    return out;
  }
  DeviceCounters counters() const override { return d_.counters(); }
  double seconds = 0;

 private:
  Device& d_;
};

struct Score {
  double loss = 0, se = 0, accuracy = 0;
  std::vector<double> per_image;      // mean loss of each image over the passes
  std::vector<double> per_image_err;  // fraction of the passes that misclassified each image
  // The number that scoring minimises: the mean loss, or the error rate.
  double objective(ScoreBy by) const { return by == ScoreBy::kLoss ? loss : 1 - accuracy; }
  const std::vector<double>& per_image_objective(ScoreBy by) const {
    return by == ScoreBy::kLoss ? per_image : per_image_err;
  }
};

// Programs `net` and measures its loss on `set` over `repeats` device passes.
Score device_score(Device& device, const Network& net, const LabelledSet& set, int repeats) {
  device.program(net);
  const size_t N = set.labels.size();
  Score s;
  s.per_image.assign(N, 0.0);
  s.per_image_err.assign(N, 0.0);
  std::vector<double> pass_loss;
  size_t correct = 0;
  for (int r = 0; r < repeats; ++r) {
    const DeviceOutput out = device.forward(set.images, false);
    double total = 0;
    for (size_t i = 0; i < N; ++i) {
      int c = 0;
      const Mat row = out.out.row(static_cast<Eigen::Index>(i));
      const double li = softmax_xent<float>(row, &set.labels[i], nullptr, 1.0f, &c);
      s.per_image[i] += li / repeats;
      s.per_image_err[i] += (1.0 - c) / repeats;
      total += li;
      correct += static_cast<size_t>(c);
    }
    pass_loss.push_back(total / static_cast<double>(N));
  }
  const MeanCI ci = mean_ci95(pass_loss);
  s.loss = ci.mean;
  s.se = repeats > 1 ? ci.stddev / std::sqrt(static_cast<double>(repeats)) : 0;
  s.accuracy = static_cast<double>(correct) / static_cast<double>(N * static_cast<size_t>(repeats));
  return s;
}

// Paired comparison of two scores on the same images: mean of (a - b) and its error.
void paired_gain(const Score& a, const Score& b, ScoreBy by, double* mean, double* se) {
  const std::vector<double>& pa = a.per_image_objective(by);
  const std::vector<double>& pb = b.per_image_objective(by);
  const size_t n = pa.size();
  std::vector<double> d(n);
  for (size_t i = 0; i < n; ++i) d[i] = pa[i] - pb[i];
  const MeanCI ci = mean_ci95(d);
  *mean = ci.mean;
  *se = n > 1 ? ci.stddev / std::sqrt(static_cast<double>(n)) : 0;
}

// The twin's mean loss on `set` under `noise`, with fixed draws (common random numbers
// across calls, so differences between weights are not swamped by draw noise).
double twin_loss(Engine& engine, const Network& net, const LabelledSet& set,
                 const NoiseModel& noise, uint64_t seed) {
  std::vector<int> pred(set.labels.size());
  const NoiseDraws d{seed, Purpose::kTwinNoise, 0, 0};
  return engine.predict(net, set.images, set.labels.data(), noise, d, pred.data()) /
         static_cast<double>(set.labels.size());
}

void finish_alignment(FinetuneReport& r, double start_twin) {
  // Predicted change: the twin's loss change; measured: the device's.
  std::vector<double> p, m;
  double prev_twin = start_twin, prev_dev = r.start_loss;
  for (const EpochScore& e : r.epochs) {
    p.push_back(e.twin_loss - prev_twin);
    m.push_back(e.device_loss - prev_dev);
    prev_twin = e.twin_loss;
    prev_dev = e.device_loss;
  }
  if (p.empty()) return;
  int agree = 0;
  double mp = 0, mm = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    agree += (p[i] > 0) == (m[i] > 0);
    mp += p[i];
    mm += m[i];
  }
  mp /= p.size();
  mm /= m.size();
  double spp = 0, smm = 0, spm = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    spp += (p[i] - mp) * (p[i] - mp);
    smm += (m[i] - mm) * (m[i] - mm);
    spm += (p[i] - mp) * (m[i] - mm);
  }
  r.sign_agreement = static_cast<double>(agree) / p.size();
  r.correlation = spp > 0 && smm > 0 ? spm / std::sqrt(spp * smm) : 0;
}

// Rows of a labelled matrix, chosen by index: the images a method fits.
struct RowSet {
  const Mat* images = nullptr;
  const std::vector<int>* labels = nullptr;
  std::vector<uint32_t> rows;
  size_t size() const { return rows.size(); }
  // xb, yb = rows[perm[b0 .. b0 + n)].
  void gather(const std::vector<uint32_t>& perm, size_t b0, size_t n, Mat& xb,
              std::vector<int>& yb) const {
    xb.resize(static_cast<Eigen::Index>(n), images->cols());
    yb.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t row = rows[perm[b0 + i]];
      xb.row(static_cast<Eigen::Index>(i)) = images->row(row);
      yb[i] = (*labels)[row];
    }
  }
};

// The rows of `train` that are not among `held_out`'s images (compared by content, so the
// caller need not say where its calibration set came from).
std::vector<uint32_t> rows_without(const LabelledSet& train, const LabelledSet& held_out) {
  const auto hash_row = [](const auto& row) {
    uint64_t h = 1469598103934665603ULL;
    for (Eigen::Index j = 0; j < row.size(); ++j) {
      uint32_t bits;
      const float v = row[j];
      std::memcpy(&bits, &v, sizeof bits);
      h = (h ^ bits) * 1099511628211ULL;
    }
    return h;
  };
  std::unordered_multimap<uint64_t, Eigen::Index> held;
  for (Eigen::Index i = 0; i < held_out.images.rows(); ++i) {
    held.emplace(hash_row(held_out.images.row(i)), i);
  }
  std::vector<uint32_t> rows;
  rows.reserve(train.labels.size());
  for (Eigen::Index i = 0; i < train.images.rows(); ++i) {
    const auto range = held.equal_range(hash_row(train.images.row(i)));
    bool found = false;
    for (auto it = range.first; it != range.second && !found; ++it) {
      found = held_out.images.row(it->second) == train.images.row(i);
    }
    if (!found) rows.push_back(static_cast<uint32_t>(i));
  }
  return rows;
}

constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

// What a run may still spend, and the device's score of the candidates along the way.
struct Context {
  Device* device = nullptr;
  const FinetuneOptions* o = nullptr;
  FinetuneReport* r = nullptr;
  RowSet fit;
  LabelledSet score;        // held-out images, never fitted
  uint64_t score_cost = 0;  // device passes of one score
  uint64_t passes0 = 0;     // the device's pass counter at the start
  uint64_t passes_spent() const { return device->counters().passes - passes0; }
  uint64_t passes_left() const {
    if (o->budget_passes == 0) return kNoLimit;
    const uint64_t spent = passes_spent();
    return o->budget_passes > spent ? o->budget_passes - spent : 0;
  }
  uint64_t gradients_left() const {
    if (o->budget_gradients == 0) return kNoLimit;
    return o->budget_gradients > r->sample_gradients ? o->budget_gradients - r->sample_gradients
                                                     : 0;
  }
};

// The batch sizes of at most `epochs` epochs of `n` images in batches of `batch`, each
// batch costing `grads_per_image` gradients and `passes_per_image` device passes, within
// the given allowances. Sets *limited when an allowance cut the plan.
std::vector<size_t> plan_steps(size_t n, size_t batch, int epochs, uint64_t grads_per_image,
                               uint64_t grad_allowance, uint64_t passes_per_image,
                               uint64_t pass_allowance, bool* limited) {
  std::vector<size_t> steps;
  uint64_t grads = 0, passes = 0;
  *limited = false;
  for (int e = 0; e < epochs; ++e) {
    for (size_t b0 = 0; b0 < n; b0 += batch) {
      const size_t k = std::min(batch, n - b0);
      if ((grad_allowance != kNoLimit && grads + k * grads_per_image > grad_allowance) ||
          (pass_allowance != kNoLimit && passes + k * passes_per_image > pass_allowance)) {
        *limited = true;
        return steps;
      }
      grads += k * grads_per_image;
      passes += k * passes_per_image;
      steps.push_back(k);
    }
  }
  return steps;
}

// What a plan hands to the acceptance test: the best network and, when it was the only one
// the device scored (no selection among several), that unbiased score.
struct Candidate {
  Network net;
  bool moved = false;     // differs from the start
  bool measured = false;  // `score` is an unselected measurement of `net`
  Score score;
};

// Runs the planned steps (`step(i, n)` changes `net` with a batch of n images), scoring the
// device at `checks` evenly spaced steps (the last at the end) and keeping the best that
// beats the start; with no check, the end is the candidate (if it moved: steps were taken,
// or `start_moved`, a structured first step changed it).
Candidate run_plan(Network& net, Context& c, const std::vector<size_t>& steps, int checks,
                   const Score& start, const std::function<void(size_t, size_t)>& step,
                   const std::function<double(const Network&)>& twin_score,
                   bool start_moved = false) {
  const FinetuneOptions& o = *c.o;
  FinetuneReport& r = *c.r;
  Candidate best;
  double best_score = start.objective(o.score_by);
  const size_t S = steps.size();
  int done = 0;
  for (size_t i = 1; i <= S; ++i) {
    step(i - 1, steps[i - 1]);
    const bool due = checks > 0 && i >= (static_cast<size_t>(done + 1) * S + checks - 1) /
                                            static_cast<size_t>(checks);
    if (!due) continue;
    ++done;
    EpochScore e;
    e.epoch = done;
    e.step = i;
    e.sample_gradients = r.sample_gradients;
    if (twin_score) e.twin_loss = twin_score(net);
    const Score s = device_score(*c.device, net, c.score, o.score_repeats);
    e.device_loss = s.loss;
    e.device_se = s.se;
    e.device_accuracy = s.accuracy;
    r.epochs.push_back(e);
    if (s.objective(o.score_by) < best_score) {
      best_score = s.objective(o.score_by);
      best.net = net;
      best.moved = true;
      best.score = s;
      r.best_epoch = e.epoch;
    }
  }
  best.measured = best.moved && done == 1;
  if (done == 0 && (S > 0 || start_moved)) {  // no check: the end is the candidate
    best.net = net;
    best.moved = true;
    r.best_epoch = 1;
  }
  return best;
}

// The per-image average of two measurements of the same network on the same images.
Score pooled(const Score& a, const Score& b) {
  Score s = a;
  for (size_t i = 0; i < s.per_image.size(); ++i) {
    s.per_image[i] = 0.5 * (a.per_image[i] + b.per_image[i]);
    s.per_image_err[i] = 0.5 * (a.per_image_err[i] + b.per_image_err[i]);
  }
  s.loss = 0.5 * (a.loss + b.loss);
  s.se = 0.5 * std::sqrt(a.se * a.se + b.se * b.se);
  s.accuracy = 0.5 * (a.accuracy + b.accuracy);
  return s;
}

// How many checks fit in `passes` (the pass allowance left for checks).
int affordable_checks(const Context& c, uint64_t passes) {
  if (passes == kNoLimit) return c.o->checks;
  return static_cast<int>(
      std::min<uint64_t>(static_cast<uint64_t>(c.o->checks), passes / c.score_cost));
}

class MethodBase : public FinetuneMethod {
 public:
  FinetuneReport run(Network& net, Device& raw_device, const LabelledSet& calib,
                     const LabelledSet& train, const FinetuneOptions& opts_in) override {
    FinetuneOptions o = opts_in;
    o.validate(net.arch());
    check_labelled_data(net.arch(), calib.images, calib.labels, "fine-tuning: the calibration set");
    if (!train.labels.empty())
      check_labelled_data(net.arch(), train.images, train.labels, "fine-tuning: the training set");
    const auto t0 = Clock::now();
    TimedDevice device(raw_device);
    const DeviceCounters c0 = device.counters();
    FinetuneReport r;
    r.method = name();
    r.noise_used = o.assumed;
    r.budget_gradients = o.budget_gradients;
    r.budget_passes = o.budget_passes;
    r.fit_data = fits_training() ? FitData::kTraining : o.fit_data;
    // Hold out part of the calibration set for scoring (seeded split).
    // Fitting the training set, every calibration image scores; fitting the calibration set,
    // the hold-out fraction does.
    const size_t N = calib.labels.size();
    const bool baseline = method_info(name()).baseline;  // fits nothing, spends nothing
    const bool fits_calib = r.fit_data == FitData::kCalibration && !baseline;
    const size_t n_score =
        fits_calib ? std::max<size_t>(1, static_cast<size_t>(std::lround(o.holdout * N))) : N;
    if (n_score >= N && fits_calib) {
      throw InputError("fine-tuning: the hold-out leaves no image to fit");
    }
    const size_t n_fit = N > n_score ? N - n_score : 0;
    const std::vector<uint32_t> perm = permutation(N, RngStream{o.seed, Purpose::kScoreSplit});
    Context c;
    c.device = &device;
    c.o = &o;
    c.r = &r;
    c.passes0 = c0.passes;
    c.score.images.resize(static_cast<Eigen::Index>(n_score), calib.images.cols());
    for (size_t i = n_fit; i < N; ++i) {
      c.score.images.row(static_cast<Eigen::Index>(i - n_fit)) = calib.images.row(perm[i]);
      c.score.labels.push_back(calib.labels[perm[i]]);
    }
    c.score_cost = static_cast<uint64_t>(n_score) * static_cast<uint64_t>(o.score_repeats);
    if (!baseline) {
      if (r.fit_data == FitData::kTraining) {
        if (train.labels.empty()) {
          throw InputError("method " + name() + " fits the training set, but none was given");
        }
        c.fit.images = &train.images;
        c.fit.labels = &train.labels;
        c.fit.rows = rows_without(train, c.score);
      } else {
        c.fit.images = &calib.images;
        c.fit.labels = &calib.labels;
        c.fit.rows.assign(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(n_fit));
      }
      // The fixed device cost: calibration, the start's score and the candidate's fresh one.
      const uint64_t calib_cost = o.calibrate ? static_cast<uint64_t>(o.calibration.inputs) *
                                                    static_cast<uint64_t>(o.calibration.repeats)
                                              : 0;
      const uint64_t fixed = calib_cost + 2 * c.score_cost;
      if (o.budget_passes > 0 && o.budget_passes < fixed) {
        throw InputError("fine-tuning: a budget of " + std::to_string(o.budget_passes) +
                         " device passes is below the fixed cost of method " + name() + ": " +
                         std::to_string(fixed) + " (calibration " + std::to_string(calib_cost) +
                         ", two scores of " + std::to_string(n_score) + " images x " +
                         std::to_string(o.score_repeats) + ")");
      }
      if (o.calibrate) {
        r.calibration = calibrate(device, net, calib.images, o.calibration, o.assumed);
        r.calibrated = true;
        r.noise_used = r.calibration.twin_noise();  // per-pass noise, plus the chip's static error
        r.noise_used.output_clip = o.assumed.output_clip;
      } else {
        r.noise_used = o.noise;
      }
    }
    r.fit_images = c.fit.size();
    r.score_images = n_score;
    const Score start = device_score(device, net, c.score, o.score_repeats);
    r.start_loss = start.loss;
    r.start_se = start.se;
    r.start_accuracy = start.accuracy;
    Score final_score = start;
    if (!baseline) {
      const Network start_net = net;
      const FlushSubnormals ftz;
      const Candidate cand = tune(net, c, start);
      accept_or_revert(net, start_net, cand, c, start, &final_score);
    }
    r.final_loss = final_score.loss;
    r.final_se = final_score.se;
    r.final_accuracy = final_score.accuracy;
    device.program(net);
    const DeviceCounters c1 = device.counters();
    r.device_passes = c1.passes - c0.passes;
    r.device_programmings = c1.programmings - c0.programmings;
    r.device_seconds = device.seconds;
    r.digital_seconds = seconds_since(t0) - device.seconds;
    return r;
  }

 protected:
  // Whether the method fits the training set whatever FitData says (retrain).
  virtual bool fits_training() const { return false; }
  // Runs the method's plan from `net` (left at the last step); returns the best candidate.
  virtual Candidate tune(Network& net, Context& c, const Score& start) = 0;

  // Keeps the candidate only if it beats the start by accept_z errors on the held-out images,
  // paired per image: measured afresh (a candidate selected among several checks) or, when
  // it was the only one checked, on that check pooled with a fresh measurement if the pass
  // budget still allows one.
  static void accept_or_revert(Network& net, const Network& start_net, const Candidate& cand,
                               Context& c, const Score& start, Score* final) {
    FinetuneReport& r = *c.r;
    if (!cand.moved) {
      net = start_net;
      r.accepted = false;
      r.best_epoch = 0;
      return;
    }
    Score measured;
    if (cand.measured) {
      measured = cand.score;
      if (c.passes_left() >= c.score_cost) {
        measured =
            pooled(cand.score, device_score(*c.device, cand.net, c.score, c.o->score_repeats));
      }
    } else {
      measured = device_score(*c.device, cand.net, c.score, c.o->score_repeats);
    }
    double gain = 0, se = 0;
    paired_gain(start, measured, c.o->score_by, &gain, &se);
    r.accepted = gain > c.o->accept_z * se && gain > 0;
    if (r.accepted) {
      net = cand.net;
      *final = measured;
    } else {
      net = start_net;
      r.best_epoch = 0;
    }
  }
};

// The same network with layer l's weights times c_l and its bias times c_0...c_l: for
// positively homogeneous activations (relu, linear) the noiseless function is unchanged up to
// a positive scale of the logits, while every detected sum grows against additive noise.
Network rescaled(const Network& net, const std::vector<double>& c) {
  Network out = net;
  double cum = 1;
  for (size_t l = 0; l < net.num_layers(); ++l) {
    cum *= c[l];
    out.weight(l) *= static_cast<float>(c[l]);
    out.bias(l) *= static_cast<float>(cum);
  }
  return out;
}

// The twin's structured first step: scales every layer towards the weight range, by the
// fraction t of the way (in log scale) that the twin's loss under the calibrated noise
// prefers, chosen on a grid with common random numbers. Returns the images forwarded.
uint64_t rescale_step(Network& net, Engine& engine, const RowSet& fit, const NoiseModel& noise,
                      uint64_t seed, std::vector<double>* chosen) {
  const size_t L = net.num_layers();
  std::vector<double> cap(L);
  for (size_t l = 0; l < L; ++l) {
    const double m = net.weight(l).cwiseAbs().maxCoeff();
    // Up to the full range: leaving headroom (0.75 w_max) lost, recovery 0.87 against 0.98
    // at true sum_add 1.0 (docs/method.md).
    cap[l] = m > 0 ? std::max(1.0, net.arch().w_max / m) : 1.0;
  }
  const size_t n = std::min<size_t>(fit.size(), 1024);
  const std::vector<uint32_t> perm =
      permutation(fit.size(), RngStream{seed, Purpose::kRescaleSubset});
  Mat x;
  std::vector<int> y;
  fit.gather(perm, 0, n, x, y);
  // The criterion is the twin's error rate: its loss also rewards smaller logits, which
  // would undo the scaling the noise asks for. Per image, errors over a few draws (common
  // to every candidate); a scale is taken only if it beats the start by 2 paired errors.
  constexpr uint32_t kReps = 2;
  const auto twin_errors = [&](const Network& candidate) {
    std::vector<double> err(n, 0.0);
    std::vector<int> pred(n);
    for (uint32_t rep = 0; rep < kReps; ++rep) {
      const NoiseDraws d{seed, Purpose::kTwinNoise, 1 + rep, 0};
      engine.predict(candidate, x, nullptr, noise, d, pred.data());
      for (size_t i = 0; i < n; ++i) err[i] += pred[i] != y[i] ? 1.0 / kReps : 0.0;
    }
    return err;
  };
  const std::vector<double> start_err = twin_errors(net);
  uint64_t forwards = kReps * n;
  double best_gain = 0;
  double best_t = 0;
  for (int k = 1; k <= 5; ++k) {
    const double t = 0.2 * k;
    std::vector<double> c(L);
    for (size_t l = 0; l < L; ++l) c[l] = std::pow(cap[l], t);
    const std::vector<double> err = twin_errors(rescaled(net, c));
    forwards += kReps * n;
    std::vector<double> d(n);
    for (size_t i = 0; i < n; ++i) d[i] = start_err[i] - err[i];
    const MeanCI ci = mean_ci95(d);
    const double se = ci.stddev / std::sqrt(static_cast<double>(n));
    if (ci.mean > 2 * se && ci.mean > best_gain) {
      best_gain = ci.mean;
      best_t = t;
    }
  }
  chosen->assign(L, 1.0);
  for (size_t l = 0; l < L; ++l) (*chosen)[l] = std::pow(cap[l], best_t);
  if (best_t > 0) net = rescaled(net, *chosen);
  return forwards;
}

// Word b of Purpose::kFitShuffle: TwinMethod::Kind (0-2) for gift, diff and retrain, this for hil.
constexpr uint32_t kHilStream = 3;

// gift, diff and retrain: twin gradients under the calibrated noise; the device only
// calibrates and scores.
class TwinMethod : public MethodBase {
 public:
  enum Kind { kGift, kDiff, kRetrain };
  explicit TwinMethod(Kind kind) : kind_(kind) {}
  std::string name() const override {
    return kind_ == kGift ? "gift" : kind_ == kDiff ? "diff" : "retrain";
  }

 protected:
  bool fits_training() const override { return kind_ == kRetrain; }

  Candidate tune(Network& net, Context& c, const Score& start) override {
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
    const uint64_t reserve = c.score_cost;  // the candidate's fresh score
    const uint64_t left = c.passes_left();
    const int checks = affordable_checks(c, left == kNoLimit ? kNoLimit : left - reserve);
    bool start_moved = false;
    if (kind_ == kGift && o.rescale) {
      r.twin_forwards += rescale_step(net, engine, c.fit, r.noise_used, o.seed, &r.rescale);
      for (double v : r.rescale) start_moved = start_moved || v != 1.0;
    }
    const double start_twin = twin_loss(engine, net, c.score, r.noise_used, o.seed);
    OptimizerState state;
    Mat xb;
    std::vector<int> yb;
    Vec g, g_hat;
    std::vector<uint32_t> perm;
    size_t pos = N;
    int epoch = -1;
    const auto step = [&](size_t i, size_t n) {
      if (pos >= N) {
        perm =
            permutation(N, RngStream{o.seed, Purpose::kFitShuffle, static_cast<uint32_t>(++epoch),
                                     static_cast<uint32_t>(kind_)});
        pos = 0;
      }
      c.fit.gather(perm, pos, n, xb, yb);
      pos += n;
      const NoiseDraws d{o.seed, Purpose::kTrainNoise, static_cast<uint32_t>(i), 0};
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
        net, c, steps, checks, start, step,
        [&](const Network& n) { return twin_loss(engine, n, c.score, r.noise_used, o.seed); },
        start_moved);
    finish_alignment(r, start_twin);
    return best;
  }

 private:
  Kind kind_;
};

// Hardware in the loop: every step runs its batch on the device with taps and
// backpropagates through the measured sums, with the calibrated noise's draws inferred
// from them (tape_from_measurement).
class HilMethod : public MethodBase {
 public:
  std::string name() const override { return "hil"; }

 protected:
  Candidate tune(Network& net, Context& c, const Score& start) override {
    const FinetuneOptions& o = *c.o;
    FinetuneReport& r = *c.r;
    if (!c.device->info().taps) {
      throw InputError("method hil needs a device that exposes every layer's detected sums");
    }
    const size_t N = c.fit.size(), B = static_cast<size_t>(o.batch_size), L = net.num_layers();
    // Passes: the candidate's fresh score first, then up to half of the rest for checks,
    // the remainder for steps.
    const uint64_t left = c.passes_left();
    int checks = o.checks;
    uint64_t step_passes = kNoLimit;
    if (left != kNoLimit) {
      const uint64_t avail = left - c.score_cost;
      checks = affordable_checks(c, avail / 2);
      step_passes = avail - static_cast<uint64_t>(checks) * c.score_cost;
    }
    bool limited = false;
    const std::vector<size_t> steps =
        plan_steps(N, B, o.epochs, 1, c.gradients_left(), 1, step_passes, &limited);
    r.budget_limited = limited;
    OptimizerState state;
    Mat xb;
    std::vector<int> yb;
    Vec g;
    std::vector<uint32_t> perm;
    size_t pos = N;
    int epoch = -1;
    const auto step = [&](size_t, size_t n) {
      if (pos >= N) {
        perm = permutation(
            N, RngStream{o.seed, Purpose::kFitShuffle, static_cast<uint32_t>(++epoch), kHilStream});
        pos = 0;
      }
      c.fit.gather(perm, pos, n, xb, yb);
      pos += n;
      c.device->program(net);
      const DeviceOutput out = c.device->forward(xb, true);
      Tape<float> tape;
      tape_from_measurement<float>(tape, net, xb, out.sums, out.out, r.noise_used);
      Mat dlogits;
      softmax_xent<float>(out.out, yb.data(), &dlogits, 1.0f / static_cast<float>(n), nullptr);
      network_backward<float>(tape, net, r.noise_used, dlogits, nullptr);
      g.setZero(net.params().size());
      const std::vector<const Tape<float>*> tapes = {&tape};
      for (size_t l = 0; l < L; ++l) {
        accumulate_layer_grad<float>(g, net, r.noise_used, tapes, l, 0, net.arch().sizes[l + 1]);
      }
      r.sample_gradients += n;
      optimizer_step(net.params(), g, state, o.optimizer);
      net.project();
    };
    return run_plan(net, c, steps, checks, start, step, nullptr);
  }
};

class NoneMethod : public MethodBase {
 public:
  std::string name() const override { return "none"; }

 protected:
  Candidate tune(Network&, Context&, const Score&) override { return {}; }
};

}  // namespace

void FinetuneOptions::validate(const Architecture& arch) {
  if (epochs < 0 || retrain_epochs < 0) throw InputError("fine-tuning: epochs must be >= 0");
  if (batch_size < 1) throw InputError("fine-tuning: batch size must be >= 1");
  if (score_repeats < 1) throw InputError("fine-tuning: score repeats must be >= 1");
  if (checks < 0) throw InputError("fine-tuning: checks must be >= 0");
  if (!(holdout > 0 && holdout < 1)) throw InputError("fine-tuning: holdout must be in (0, 1)");
  if (!(accept_z >= 0) || !std::isfinite(accept_z))
    throw InputError("fine-tuning: accept_z must be >= 0");
  if (threads < 0) throw InputError("fine-tuning: threads must be >= 0");
  optimizer.validate();
  calibration.validate();
  if (assumed.layers.empty()) assumed = NoiseModel::none(arch.num_layers());
  assumed.validate(arch.num_layers(), "assumed noise");
  if (!calibrate) {
    if (noise.layers.empty())
      throw InputError("fine-tuning without calibration needs a noise model");
    noise.validate(arch.num_layers(), "fine-tuning noise");
  }
}

LabelledSet calibration_subset(const LabelledSet& train, size_t n, uint64_t seed) {
  const size_t N = train.labels.size();
  if (n == 0 || n > N) {
    throw InputError("calibration set size must be in [1, " + std::to_string(N) + "], found " +
                     std::to_string(n));
  }
  const std::vector<uint32_t> perm = permutation(N, RngStream{seed, Purpose::kCalibSubset});
  LabelledSet s;
  s.images.resize(static_cast<Eigen::Index>(n), train.images.cols());
  s.labels.resize(n);
  for (size_t i = 0; i < n; ++i) {
    s.images.row(static_cast<Eigen::Index>(i)) = train.images.row(perm[i]);
    s.labels[i] = train.labels[perm[i]];
  }
  return s;
}

LabSplit lab_split(const LabelledSet& test, size_t n, uint64_t seed) {
  const size_t N = test.labels.size();
  if (n == 0 || n >= N) {
    throw InputError("calibration set size must be in [1, " + std::to_string(N) +
                     ") (the test images, less at least one to judge the result on), found " +
                     std::to_string(n));
  }
  const std::vector<uint32_t> perm = permutation(N, RngStream{seed, Purpose::kLabSplit});
  LabSplit s;
  for (LabelledSet* d : {&s.calib, &s.eval}) {
    const size_t rows = d == &s.calib ? n : N - n;
    d->images.resize(static_cast<Eigen::Index>(rows), test.images.cols());
    d->labels.resize(rows);
  }
  for (size_t i = 0; i < N; ++i) {
    LabelledSet& d = i < n ? s.calib : s.eval;
    const size_t row = i < n ? i : i - n;
    d.images.row(static_cast<Eigen::Index>(row)) = test.images.row(perm[i]);
    d.labels[row] = test.labels[perm[i]];
  }
  return s;
}

const char* to_string(FitData d) { return d == FitData::kCalibration ? "calib" : "train"; }

FitData parse_fit_data(const std::string& name) {
  if (name == "calib") return FitData::kCalibration;
  if (name == "train") return FitData::kTraining;
  throw InputError("unknown fit data '" + name + "': expected calib or train");
}

const char* to_string(ScoreBy s) { return s == ScoreBy::kLoss ? "loss" : "accuracy"; }

ScoreBy parse_score_by(const std::string& name) {
  if (name == "loss") return ScoreBy::kLoss;
  if (name == "accuracy") return ScoreBy::kAccuracy;
  throw InputError("unknown score '" + name + "': expected accuracy or loss");
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
std::unique_ptr<FinetuneMethod> make_hil_method() { return std::make_unique<HilMethod>(); }
std::unique_ptr<FinetuneMethod> make_none_method() { return std::make_unique<NoneMethod>(); }

std::string FinetuneReport::summary() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s: held-out device loss %.4f (±%.4f) -> %.4f (±%.4f), accuracy %.2f%% -> %.2f%%, "
                "best epoch %d, %s; "
                "device passes %llu, programmings %llu, sample gradients %llu, digital %.2f s",
                method.c_str(), start_loss, start_se, final_loss, final_se, 100 * start_accuracy,
                100 * final_accuracy, best_epoch, accepted ? "accepted" : "start kept",
                static_cast<unsigned long long>(device_passes),
                static_cast<unsigned long long>(device_programmings),
                static_cast<unsigned long long>(sample_gradients), digital_seconds);
  std::string s = buf;
  const MethodInfo* info = find_method(method);
  if (!epochs.empty() && info && info->alignment) {
    std::snprintf(buf, sizeof buf, "; alignment: sign agreement %.2f, correlation %.2f",
                  sign_agreement, correlation);
    s += buf;
  }
  return s;
}

nlohmann::json FinetuneReport::to_json() const {
  nlohmann::json ep = nlohmann::json::array();
  for (const EpochScore& e : epochs) {
    ep.push_back({{"epoch", e.epoch},
                  {"step", e.step},
                  {"sample_gradients", e.sample_gradients},
                  {"device_loss", e.device_loss},
                  {"device_se", e.device_se},
                  {"device_accuracy", e.device_accuracy},
                  {"twin_loss", e.twin_loss}});
  }
  nlohmann::json j = {
      {"method", method},
      {"fit_images", fit_images},
      {"score_images", score_images},
      {"noise_used", io::noise_to_json(noise_used)},
      {"start_loss", start_loss},
      {"start_se", start_se},
      {"final_loss", final_loss},
      {"final_se", final_se},
      {"start_accuracy", start_accuracy},
      {"final_accuracy", final_accuracy},
      {"epochs", ep},
      {"best_epoch", best_epoch},
      {"accepted", accepted},
      {"alignment", {{"sign_agreement", sign_agreement}, {"correlation", correlation}}},
      {"fit_data", to_string(fit_data)},
      {"budget_gradients", budget_gradients},
      {"budget_passes", budget_passes},
      {"budget_limited", budget_limited},
      {"twin_forwards", twin_forwards},
      {"rescale", rescale},
      {"device_passes", device_passes},
      {"device_programmings", device_programmings},
      {"sample_gradients", sample_gradients},
      {"digital_seconds", digital_seconds},
      {"device_seconds", device_seconds}};
  if (calibrated) j["calibration"] = calibration.to_json();
  return j;
}

DeviceAccuracy device_accuracy(Device& device, const Network& net, const LabelledSet& data,
                               int repeats) {
  if (repeats < 1) throw InputError("device accuracy: repeats must be >= 1");
  check_labelled_data(net.arch(), data.images, data.labels, "device accuracy: the test set");
  device.program(net);
  DeviceAccuracy a;
  const size_t N = data.labels.size();
  double loss = 0;
  constexpr int kGroup = 16;  // passes whose outputs are held at once
  for (int r0 = 0; r0 < repeats; r0 += kGroup) {
    for (const Mat& out : device.forward_passes(data.images, std::min(kGroup, repeats - r0))) {
      int correct = 0;
      loss += softmax_xent<float>(out, data.labels.data(), nullptr, 1.0f, &correct);
      a.per_pass.push_back(static_cast<double>(correct) / static_cast<double>(N));
    }
  }
  const MeanCI ci = mean_ci95(a.per_pass);
  a.mean = ci.mean;
  a.low = std::max(0.0, ci.low);  // an accuracy lies in [0, 1]
  a.high = std::min(1.0, ci.high);
  a.loss = loss / (static_cast<double>(N) * repeats);
  return a;
}

}  // namespace gift

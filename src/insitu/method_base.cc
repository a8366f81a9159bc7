#include "method_base.h"

#include <cmath>
#include <cstring>
#include <unordered_map>

#include "gift/core/clock.h"
#include "gift/core/error.h"
#include "gift/core/hash.h"
#include "gift/core/rng.h"
#include "gift/core/stats.h"
#include "gift/insitu/calibration.h"
#include "gift/insitu/methods.h"
#include "gift/train/loss.h"

namespace gift {
namespace finetune_detail {
namespace {

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

// The rows of `train` that are not among `held_out`'s images (compared by content, so the
// caller need not say where its calibration set came from).
std::vector<uint32_t> rows_without(const data::Dataset& train, const data::Dataset& held_out) {
  const auto hash_row = [](const auto& row) {
    uint64_t h = kFnvOffset;
    for (Eigen::Index j = 0; j < row.size(); ++j) {
      const float v = row[j];
      h = fnv1a(&v, sizeof v, h);
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

// The acceptance test: the candidate (measured on the confirmation images, by the plan or
// here) against the start measured on the same images, one-sided at 1 - Phi(accept_z). The
// confirmation images saw no choice (docs/method.md, "The guard"), so the test keeps its level
// whatever the number of checks.
void accept_or_revert(Network& net, const Network& start_net, const Candidate& cand, Context& c,
                      const Score& start, Score* final) {
  FinetuneReport& r = *c.r;
  if (!cand.moved) {
    net = start_net;
    r.accepted = false;
    r.best_check = 0;
    return;
  }
  const Score measured = cand.confirmed
                             ? cand.score
                             : device_score(*c.device, cand.net, c.confirm, c.o->score_repeats);
  const PairedTest t = paired_test(start, measured, c.o->score_by);
  r.tested = true;
  r.gain = t.gain;
  r.gain_se = t.se;
  r.p_value = t.p;
  r.images_better = t.better;
  r.images_worse = t.worse;
  r.candidate_accuracy = measured.accuracy;
  r.candidate_loss = measured.loss;
  r.accepted = t.gain > 0 && t.p <= r.level;
  if (r.accepted) {
    net = cand.net;
    *final = measured;
  } else {
    net = start_net;
    r.best_check = 0;
  }
}

// Fails unless the pass budget covers the fixed device cost: calibration, the start's score
// and the candidate's fresh one.
void check_fixed_cost(const Context& c, const std::string& method) {
  const FinetuneOptions& o = *c.o;
  const uint64_t calib_cost = o.calibrate ? static_cast<uint64_t>(o.calibration.inputs) *
                                                static_cast<uint64_t>(o.calibration.repeats)
                                          : 0;
  const uint64_t start_cost =
      static_cast<uint64_t>(c.score.labels.size()) * static_cast<uint64_t>(o.score_repeats);
  const uint64_t fixed = calib_cost + start_cost + c.confirm_cost;
  if (o.budget_passes > 0 && o.budget_passes < fixed) {
    throw InputError("fine-tuning: a budget of " + std::to_string(o.budget_passes) +
                     " device passes is below the fixed cost of method " + method + ": " +
                     std::to_string(fixed) + " (calibration " + std::to_string(calib_cost) +
                     ", the start's score of " + std::to_string(c.score.labels.size()) +
                     " images x " + std::to_string(o.score_repeats) +
                     ", the candidate's confirmation on " +
                     std::to_string(c.confirm.labels.size()) + ")");
  }
}

}  // namespace

PairedTest paired_test(const Score& start, const Score& cand, ScoreBy by) {
  const std::vector<double>& ps = start.per_image_objective(by);
  const std::vector<double>& pc = cand.per_image_objective(by);
  if (ps.size() != pc.size()) throw InternalError("paired_test: scores of different images");
  PairedTest t;
  t.n = ps.size();
  if (t.n == 0) return t;
  std::vector<double> d(t.n);
  for (size_t i = 0; i < t.n; ++i) {
    d[i] = ps[i] - pc[i];
    t.better += d[i] > 0;
    t.worse += d[i] < 0;
  }
  const Interval ci = mean_ci95(d, Over::kImages);
  t.gain = ci.mean;
  t.se = t.n > 1 ? ci.stddev / std::sqrt(static_cast<double>(t.n)) : 0;
  t.p = by == ScoreBy::kAccuracy ? sign_test_p(t.better, t.worse) : paired_t_p(d);
  return t;
}

Score device_score(Device& device, const Network& net, const data::Dataset& set, int repeats) {
  device.program(net);
  const size_t N = set.labels.size();
  Score s;
  s.per_image.assign(N, 0.0);
  s.per_image_err.assign(N, 0.0);
  size_t correct = 0;
  double total = 0;
  for (int r = 0; r < repeats; ++r) {
    const DeviceOutput out = device.forward(set.images, false);
    for (size_t i = 0; i < N; ++i) {
      int c = 0;
      const Mat row = out.out.row(static_cast<Eigen::Index>(i));
      const double li = softmax_xent<float>(row, &set.labels[i], nullptr, 1.0f, &c);
      s.per_image[i] += li / repeats;
      s.per_image_err[i] += (1.0 - c) / repeats;
      total += li;
      correct += static_cast<size_t>(c);
    }
  }
  s.loss = total / static_cast<double>(N * static_cast<size_t>(repeats));
  // The standard error of the mean loss over these images (whatever the passes): the spread
  // of the per-image means.
  s.se =
      N > 1 ? mean_ci95(s.per_image, Over::kImages).stddev / std::sqrt(static_cast<double>(N)) : 0;
  s.accuracy = static_cast<double>(correct) / static_cast<double>(N * static_cast<size_t>(repeats));
  return s;
}

double twin_loss(Engine& engine, const Network& net, const data::Dataset& set,
                 const NoiseModel& noise, uint64_t seed) {
  std::vector<int> pred(set.labels.size());
  const NoiseDraws d{seed, Purpose::kTwinNoise, 0, 0};
  return engine.predict(net, set.images, set.labels.data(), noise, d, pred.data()) /
         static_cast<double>(set.labels.size());
}

void finish_alignment(FinetuneReport& r, double start_twin, double start_device) {
  // Predicted change: the twin's loss change; measured: the device's.
  std::vector<double> p, m;
  double prev_twin = start_twin, prev_dev = start_device;
  for (const CheckScore& e : r.checks) {
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

void RowSet::gather(const std::vector<uint32_t>& perm, size_t b0, size_t n, Mat& xb,
                    std::vector<int>& yb) const {
  std::vector<uint32_t> picked(n);
  for (size_t i = 0; i < n; ++i) picked[i] = rows[perm[b0 + i]];
  gather_rows(*images, *labels, picked.data(), n, xb, yb);
}

double Context::check_start_loss() const { return split ? start_select.loss : r->start_loss; }

uint64_t Context::passes_left() const {
  if (o->budget_passes == 0) return kNoLimit;
  const uint64_t spent = passes_spent();
  return o->budget_passes > spent ? o->budget_passes - spent : 0;
}

uint64_t Context::gradients_left() const {
  if (o->budget_gradients == 0) return kNoLimit;
  return o->budget_gradients > r->sample_gradients ? o->budget_gradients - r->sample_gradients : 0;
}

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

int affordable_checks(const Context& c, uint64_t passes) {
  if (!c.split) return 0;
  if (passes == kNoLimit) return c.o->checks;
  return static_cast<int>(
      std::min<uint64_t>(static_cast<uint64_t>(c.o->checks), passes / c.check_cost));
}

Candidate run_plan(Network& net, Context& c, const std::vector<size_t>& steps, int checks,
                   const std::function<void(size_t, size_t)>& step,
                   const std::function<double(const Network&)>& twin_score, bool start_moved) {
  const FinetuneOptions& o = *c.o;
  FinetuneReport& r = *c.r;
  if (checks > 0 && !c.split) throw InternalError("run_plan: checks need a split hold-out");
  Candidate best;
  double best_score = c.split ? c.start_select.objective(o.score_by) : 0;
  const size_t S = steps.size();
  int done = 0;
  const auto record = [&](const Score& s, size_t i) {
    CheckScore e;
    e.check = ++done;
    e.step = i;
    e.sample_gradients = r.sample_gradients;
    if (twin_score) e.twin_loss = twin_score(net);
    e.device_loss = s.loss;
    e.device_se = s.se;
    e.device_accuracy = s.accuracy;
    r.checks.push_back(e);
  };
  for (size_t i = 1; i <= S; ++i) {
    step(i - 1, steps[i - 1]);
    const bool due = checks > 0 && i >= (static_cast<size_t>(done + 1) * S + checks - 1) /
                                            static_cast<size_t>(checks);
    if (!due) continue;
    const Score s = device_score(*c.device, net, c.select, o.score_repeats);
    record(s, i);
    if (s.objective(o.score_by) < best_score) {
      best_score = s.objective(o.score_by);
      best.net = net;
      best.moved = true;
      r.best_check = done;
    }
  }
  if (checks == 0 && (S > 0 || start_moved)) {  // no check: the end is the candidate
    best.net = net;
    best.moved = true;
    if (!c.split) {  // nothing chosen: its measurement on the confirmation images is the check
      best.score = device_score(*c.device, net, c.confirm, o.score_repeats);
      best.confirmed = true;
      record(best.score, S);
    }
    r.best_check = done > 0 ? done : 1;
  }
  return best;
}

// The scoring hold-out (seeded split of the calibration set) and the rows to fit, the fixed
// cost check, and the noise the twin runs under (calibrated, or given). Fitting the training
// set, every calibration image scores; fitting the calibration set, the hold-out fraction does.
void MethodBase::prepare(Context& c, Network& net, const data::Dataset& calib,
                         const data::Dataset& train) {
  const FinetuneOptions& o = *c.o;
  FinetuneReport& r = *c.r;
  const bool baseline = method_info(name()).baseline;  // fits nothing, spends nothing
  const size_t N = calib.labels.size();
  const bool fits_calib = r.fit_data == FitData::kCalibration && !baseline;
  const size_t n_score =
      fits_calib ? std::max<size_t>(1, static_cast<size_t>(std::lround(o.holdout * N))) : N;
  if (n_score >= N && fits_calib) {
    throw InputError("fine-tuning: the hold-out leaves no image to fit");
  }
  const size_t n_fit = N > n_score ? N - n_score : 0;
  const std::vector<uint32_t> perm = permutation(N, RngStream{o.seed, Purpose::kScoreSplit});
  c.score = data::gather(calib, perm.data() + n_fit, n_score);
  // Several checks: the first half of the hold-out selects, the second confirms (the
  // permutation is random, so both halves are random draws of it).
  c.split = o.checks >= 2 && !baseline && n_score >= 2;
  const size_t n_select = c.split ? n_score / 2 : 0;
  if (c.split) {
    c.select = data::gather(calib, perm.data() + n_fit, n_select);
  }
  c.confirm = data::gather(calib, perm.data() + n_fit + n_select, n_score - n_select);
  const uint64_t R = static_cast<uint64_t>(o.score_repeats);
  c.check_cost = static_cast<uint64_t>(n_select) * R;
  c.confirm_cost = static_cast<uint64_t>(n_score - n_select) * R;
  r.select_images = n_select;
  r.confirm_images = n_score - n_select;
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
    check_fixed_cost(c, name());
    if (o.calibrate) {
      r.calibration = calibrate(*c.device, net, calib.images, o.calibration, o.assumed);
      r.calibrated = true;
      r.noise_used = r.calibration.twin_noise();  // per-pass noise, plus the chip's static error
      r.noise_used.output_clip = o.assumed.output_clip;
    } else {
      r.noise_used = o.noise;
    }
  }
  r.fit_images = c.fit.size();
  r.score_images = n_score;
}

FinetuneReport MethodBase::run(Network& net, Device& raw_device, const data::Dataset& calib,
                               const data::Dataset& train, const FinetuneOptions& opts_in) {
  opts_in.validate(net.arch());
  FinetuneOptions o = opts_in;
  o.assumed = o.assumed_noise(net.arch());
  check_labelled_data(net.arch(), calib.images, calib.labels, "fine-tuning: the calibration set");
  if (!train.labels.empty())
    check_labelled_data(net.arch(), train.images, train.labels, "fine-tuning: the training set");
  const auto t0 = Clock::now();
  CheckedDevice checked(raw_device);  // NaN or inf in or out is refused, whatever the device
  TimedDevice device(checked);
  const DeviceCounters c0 = device.counters();
  FinetuneReport r;
  r.method = name();
  r.noise_used = o.assumed;
  r.budget_gradients = o.budget_gradients;
  r.budget_passes = o.budget_passes;
  r.fit_data = fits_training() ? FitData::kTraining : o.fit_data;
  Context c;
  c.device = &device;
  c.o = &o;
  c.r = &r;
  c.passes0 = c0.passes;
  r.level = upper_tail_level(o.accept_z);
  r.score_by_accuracy = o.score_by == ScoreBy::kAccuracy;
  prepare(c, net, calib, train);
  if (c.split) c.start_select = device_score(device, net, c.select, o.score_repeats);
  const Score start = device_score(device, net, c.confirm, o.score_repeats);
  r.start_loss = start.loss;
  r.start_se = start.se;
  r.start_accuracy = start.accuracy;
  Score final_score = start;
  if (!method_info(name()).baseline) {
    const Network start_net = net;
    const FlushSubnormals ftz;
    const Candidate cand = tune(net, c);
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

namespace {

// The baseline: the start, scored like a method.
class NoneMethod : public MethodBase {
 public:
  std::string name() const override { return "none"; }

 protected:
  Candidate tune(Network&, Context&) override { return {}; }
};

}  // namespace
}  // namespace finetune_detail

std::unique_ptr<FinetuneMethod> make_none_method() {
  return std::make_unique<finetune_detail::NoneMethod>();
}

}  // namespace gift

#include "gift/insitu/finetune.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "gift/core/error.h"
#include "gift/core/stats.h"
#include "gift/onn/forward.h"
#include "gift/train/engine.h"
#include "gift/train/loss.h"
#include "gift/train/trainer.h"

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
  const NoiseDraws d{seed, Purpose::kEvalNoise, 0xF17u, 0};
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

// The calibration set, split into images to fit and held-out images to score.
struct Split {
  LabelledSet fit, score;
  const LabelledSet* all = nullptr;
};

class MethodBase : public FinetuneMethod {
 public:
  FinetuneReport run(Network& net, Device& raw_device, const LabelledSet& calib,
                     const LabelledSet& train, const FinetuneOptions& opts_in) override {
    FinetuneOptions o = opts_in;
    o.validate(net.arch());
    check_labelled_data(net.arch(), calib.images, calib.labels, "fine-tuning: the calibration set");
    if (!train.labels.empty()) check_labelled_data(net.arch(), train.images, train.labels, "fine-tuning: the training set");
    const auto t0 = Clock::now();
    TimedDevice device(raw_device);
    const DeviceCounters c0 = device.counters();
    FinetuneReport r;
    r.method = name();
    r.noise_used = o.assumed;
    if (name() != "none") {
      if (o.calibrate) {
        r.calibration = calibrate(device, net, calib.images, o.calibration, o.assumed);
        r.calibrated = true;
        r.noise_used = r.calibration.estimate();
        r.noise_used.output_clip = o.assumed.output_clip;
      } else {
        r.noise_used = o.noise;
      }
    }
    // Hold out part of the calibration set for scoring (seeded split).
    const size_t N = calib.labels.size();
    const size_t n_score = std::max<size_t>(1, static_cast<size_t>(std::lround(o.holdout * N)));
    if (n_score >= N) throw InputError("fine-tuning: the hold-out leaves no image to fit");
    const std::vector<uint32_t> perm = epoch_permutation(N, o.seed ^ 0x401DULL, 0);
    Split split;
    split.fit.images.resize(static_cast<Eigen::Index>(N - n_score), calib.images.cols());
    split.score.images.resize(static_cast<Eigen::Index>(n_score), calib.images.cols());
    for (size_t i = 0; i < N; ++i) {
      LabelledSet& dst = i < N - n_score ? split.fit : split.score;
      const size_t row = i < N - n_score ? i : i - (N - n_score);
      dst.images.row(static_cast<Eigen::Index>(row)) = calib.images.row(perm[i]);
      dst.labels.push_back(calib.labels[perm[i]]);
    }
    split.all = &calib;
    r.fit_images = N - n_score;
    r.score_images = n_score;
    const Score start = device_score(device, net, split.score, o.score_repeats);
    r.start_loss = start.loss;
    r.start_se = start.se;
    r.start_accuracy = start.accuracy;
    Network start_net = net;
    Score final_score = start;
    tune(net, device, split, train, o, r, start, &final_score);
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
  // Changes `net`; sets *final to the device score of the returned weights.
  virtual void tune(Network& net, Device& device, const Split& calib, const LabelledSet& train,
                    const FinetuneOptions& o, FinetuneReport& r, const Score& start,
                    Score* final) = 0;

  // Keeps `best` only if a fresh measurement beats the start by accept_z errors.
  static void accept_or_revert(Network& net, const Network& start_net, const Network& best,
                               Device& device, const LabelledSet& score_set,
                               const FinetuneOptions& o, FinetuneReport& r, const Score& start,
                               Score* final) {
    if (r.best_epoch == 0) {
      net = start_net;
      r.accepted = false;
      return;
    }
    const Score fresh = device_score(device, best, score_set, o.score_repeats);
    double gain = 0, se = 0;
    paired_gain(start, fresh, o.score_by, &gain, &se);
    r.accepted = gain > o.accept_z * se && gain > 0;
    if (r.accepted) {
      net = best;
      *final = fresh;
    } else {
      net = start_net;
      r.best_epoch = 0;
    }
  }
};

// gift and diff: twin gradients, device only to calibrate and score.
class TwinMethod : public MethodBase {
 public:
  explicit TwinMethod(bool diff) : diff_(diff) {}
  std::string name() const override { return diff_ ? "diff" : "gift"; }

 protected:
  void tune(Network& net, Device& device, const Split& split, const LabelledSet&,
            const FinetuneOptions& o, FinetuneReport& r, const Score& start,
            Score* final) override {
    const LabelledSet& calib = split.fit;
    Engine engine(o.threads);
    const FlushSubnormals ftz;
    const Network start_net = net;
    Network best = net;
    double best_score = start.objective(o.score_by);
    OptimizerState state;
    const size_t N = calib.labels.size(), B = static_cast<size_t>(o.batch_size);
    Mat xb(static_cast<Eigen::Index>(std::min(N, B)), calib.images.cols());
    std::vector<int> yb(std::min(N, B));
    Vec g, g_hat;
    const double start_twin = twin_loss(engine, net, calib, r.noise_used, o.seed);
    uint32_t step = 0;
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
      const std::vector<uint32_t> perm = epoch_permutation(N, o.seed ^ 0x9F7ULL, epoch);
      for (size_t b0 = 0; b0 < N; b0 += B) {
        const size_t n = std::min(B, N - b0);
        for (size_t i = 0; i < n; ++i) {
          xb.row(static_cast<Eigen::Index>(i)) = calib.images.row(perm[b0 + i]);
          yb[i] = calib.labels[perm[b0 + i]];
        }
        const NoiseDraws d{o.seed, Purpose::kTrainNoise, step++, 0};
        const auto rows = xb.topRows(static_cast<Eigen::Index>(n));
        engine.loss_and_grad(net, rows, yb.data(), r.noise_used, d, g);
        r.sample_gradients += n;
        if (diff_) {
          engine.loss_and_grad(net, rows, yb.data(), o.assumed, d, g_hat);  // same draws
          g -= g_hat;
          r.sample_gradients += n;
        }
        optimizer_step(net.params(), g, state, o.optimizer);
        net.project();
      }
      EpochScore e;
      e.epoch = epoch + 1;
      e.twin_loss = twin_loss(engine, net, calib, r.noise_used, o.seed);
      const Score s = device_score(device, net, split.score, o.score_repeats);
      e.device_loss = s.loss;
      e.device_se = s.se;
      e.device_accuracy = s.accuracy;
      r.epochs.push_back(e);
      if (s.objective(o.score_by) < best_score) {
        best_score = s.objective(o.score_by);
        best = net;
        r.best_epoch = e.epoch;
      }
    }
    finish_alignment(r, start_twin);
    accept_or_revert(net, start_net, best, device, split.score, o, r, start, final);
  }

 private:
  bool diff_;
};

// Hardware in the loop: device forward with taps, backward through the twin.
class HilMethod : public MethodBase {
 public:
  std::string name() const override { return "hil"; }

 protected:
  void tune(Network& net, Device& device, const Split& split, const LabelledSet&,
            const FinetuneOptions& o, FinetuneReport& r, const Score&, Score* final) override {
    const LabelledSet& calib = *split.all;  // no acceptance test: fits every image
    if (!device.info().taps) {
      throw InputError("method hil needs a device that exposes every layer's detected sums");
    }
    const FlushSubnormals ftz;
    const size_t N = calib.labels.size(), B = static_cast<size_t>(o.batch_size), L = net.num_layers();
    const NoiseModel clean = NoiseModel::none(L);
    OptimizerState state;
    Mat xb;
    std::vector<int> yb;
    Vec g;
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
      const std::vector<uint32_t> perm = epoch_permutation(N, o.seed ^ 0x411ULL, epoch);
      double loss_sum = 0;
      int correct = 0;
      for (size_t b0 = 0; b0 < N; b0 += B) {
        const size_t n = std::min(B, N - b0);
        xb.resize(static_cast<Eigen::Index>(n), calib.images.cols());
        yb.resize(n);
        for (size_t i = 0; i < n; ++i) {
          xb.row(static_cast<Eigen::Index>(i)) = calib.images.row(perm[b0 + i]);
          yb[i] = calib.labels[perm[b0 + i]];
        }
        device.program(net);
        const DeviceOutput out = device.forward(xb, true);
        // The tape of the measured pass: detected sums and their nominal activations.
        Tape<float> tape;
        tape.x = xb;
        tape.layers.resize(L);
        for (size_t l = 0; l < L; ++l) {
          LayerTape<float>& t = tape.layers[l];
          t.z = out.sums[l];
          if (l + 1 == L) {
            t.a = out.out;
          } else {
            apply_activation<float>(t.a, t.z, net.arch().activations[l]);
          }
        }
        Mat dlogits;
        loss_sum += softmax_xent<float>(out.out, yb.data(), &dlogits, 1.0f / n, &correct);
        network_backward<float>(tape, net, clean, dlogits, nullptr);
        g.setZero(net.params().size());
        const std::vector<const Tape<float>*> tapes = {&tape};
        for (size_t l = 0; l < L; ++l) accumulate_layer_grad<float>(g, net, clean, tapes, l, 0, net.arch().sizes[l + 1]);
        r.sample_gradients += n;
        optimizer_step(net.params(), g, state, o.optimizer);
        net.project();
      }
      EpochScore e;
      e.epoch = epoch + 1;
      e.device_loss = loss_sum / N;  // measured during the epoch, on the moving weights
      e.device_accuracy = static_cast<double>(correct) / N;
      r.epochs.push_back(e);
    }
    r.best_epoch = o.epochs;
    r.accepted = true;
    *final = device_score(device, net, split.score, o.score_repeats);
  }
};

// Noise-aware retraining from θ̂ at s_est on the full training set.
class RetrainMethod : public MethodBase {
 public:
  std::string name() const override { return "retrain"; }

 protected:
  void tune(Network& net, Device& device, const Split& split, const LabelledSet& train,
            const FinetuneOptions& o, FinetuneReport& r, const Score&, Score* final) override {
    if (train.labels.empty()) throw InputError("method retrain needs the training set");
    TrainOptions t;
    t.epochs = o.retrain_epochs;
    t.batch_size = 128;
    t.optimizer = o.optimizer;
    t.noise = r.noise_used;
    t.seed = o.seed;
    t.threads = o.threads;
    TrainState state;
    const TrainSummary s = gift::train(net, train.images, train.labels, t, state);
    if (s.diverged) throw InputError("retrain diverged: " + s.message);
    r.sample_gradients += static_cast<uint64_t>(o.retrain_epochs) * train.labels.size();
    for (const EpochLog& e : s.epochs) {
      EpochScore es;
      es.epoch = e.epoch;
      es.twin_loss = e.loss;
      r.epochs.push_back(es);
    }
    r.best_epoch = o.retrain_epochs;
    r.accepted = true;
    *final = device_score(device, net, split.score, o.score_repeats);
  }
};

class NoneMethod : public MethodBase {
 public:
  std::string name() const override { return "none"; }

 protected:
  void tune(Network&, Device&, const Split&, const LabelledSet&, const FinetuneOptions&,
            FinetuneReport&, const Score&, Score*) override {}
};

}  // namespace

void FinetuneOptions::validate(const Architecture& arch) {
  if (epochs < 0 || retrain_epochs < 0) throw InputError("fine-tuning: epochs must be >= 0");
  if (batch_size < 1) throw InputError("fine-tuning: batch size must be >= 1");
  if (score_repeats < 2) throw InputError("fine-tuning: score repeats must be >= 2");
  if (!(holdout > 0 && holdout < 1)) throw InputError("fine-tuning: holdout must be in (0, 1)");
  if (!(accept_z >= 0) || !std::isfinite(accept_z)) throw InputError("fine-tuning: accept_z must be >= 0");
  if (threads < 0) throw InputError("fine-tuning: threads must be >= 0");
  optimizer.validate();
  calibration.validate();
  if (assumed.layers.empty()) assumed = NoiseModel::none(arch.num_layers());
  assumed.validate(arch.num_layers(), "assumed noise");
  if (!calibrate) {
    if (noise.layers.empty()) throw InputError("fine-tuning without calibration needs a noise model");
    noise.validate(arch.num_layers(), "fine-tuning noise");
  }
}

LabelledSet calibration_subset(const LabelledSet& train, size_t n, uint64_t seed) {
  const size_t N = train.labels.size();
  if (n == 0 || n > N) {
    throw InputError("calibration set size must be in [1, " + std::to_string(N) + "], found " +
                     std::to_string(n));
  }
  const std::vector<uint32_t> perm = epoch_permutation(N, seed ^ 0xCA11BULL, 0);
  LabelledSet s;
  s.images.resize(static_cast<Eigen::Index>(n), train.images.cols());
  s.labels.resize(n);
  for (size_t i = 0; i < n; ++i) {
    s.images.row(static_cast<Eigen::Index>(i)) = train.images.row(perm[i]);
    s.labels[i] = train.labels[perm[i]];
  }
  return s;
}

const char* to_string(ScoreBy s) { return s == ScoreBy::kLoss ? "loss" : "accuracy"; }

ScoreBy parse_score_by(const std::string& name) {
  if (name == "loss") return ScoreBy::kLoss;
  if (name == "accuracy") return ScoreBy::kAccuracy;
  throw InputError("unknown score '" + name + "': expected accuracy or loss");
}

std::vector<std::string> method_names() { return {"gift", "diff", "hil", "retrain", "none"}; }

std::unique_ptr<FinetuneMethod> make_method(const std::string& name) {
  if (name == "gift") return std::make_unique<TwinMethod>(false);
  if (name == "diff") return std::make_unique<TwinMethod>(true);
  if (name == "hil") return std::make_unique<HilMethod>();
  if (name == "retrain") return std::make_unique<RetrainMethod>();
  if (name == "none") return std::make_unique<NoneMethod>();
  throw InputError("unknown fine-tuning method '" + name + "': expected gift, diff, hil, retrain or none");
}

std::string FinetuneReport::summary() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s: held-out device loss %.4f (±%.4f) -> %.4f (±%.4f), accuracy %.2f%% -> %.2f%%, "
                "best epoch %d, %s; "
                "device passes %llu, programmings %llu, sample gradients %llu, digital %.2f s",
                method.c_str(), start_loss, start_se, final_loss, final_se, 100 * start_accuracy,
                100 * final_accuracy, best_epoch,
                accepted ? "accepted" : "start kept", static_cast<unsigned long long>(device_passes),
                static_cast<unsigned long long>(device_programmings),
                static_cast<unsigned long long>(sample_gradients), digital_seconds);
  std::string s = buf;
  if (!epochs.empty() && (method == "gift" || method == "diff")) {
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
                  {"device_loss", e.device_loss},
                  {"device_se", e.device_se},
                  {"device_accuracy", e.device_accuracy},
                  {"twin_loss", e.twin_loss}});
  }
  nlohmann::json j = {{"method", method},
                      {"fit_images", fit_images},
                      {"score_images", score_images},
                      {"noise_used", noise_to_json(noise_used)},
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
  for (int r = 0; r < repeats; ++r) {
    const DeviceOutput out = device.forward(data.images, false);
    int correct = 0;
    loss += softmax_xent<float>(out.out, data.labels.data(), nullptr, 1.0f, &correct);
    a.per_pass.push_back(static_cast<double>(correct) / static_cast<double>(N));
  }
  const MeanCI ci = mean_ci95(a.per_pass);
  a.mean = ci.mean;
  a.low = std::max(0.0, ci.low);  // an accuracy lies in [0, 1]
  a.high = std::min(1.0, ci.high);
  a.loss = loss / (static_cast<double>(N) * repeats);
  return a;
}

}  // namespace gift

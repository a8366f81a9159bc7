#include "gift/train/trainer.h"

#include <chrono>
#include <cmath>
#include <numeric>
#include <sstream>

#include "gift/core/clock.h"
#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/train/engine.h"
#include "gift/train/loss.h"

namespace gift {

const char* to_string(LrSchedule s) { return s == LrSchedule::kCosine ? "cosine" : "constant"; }

LrSchedule parse_lr_schedule(const std::string& name) {
  if (name == "cosine") return LrSchedule::kCosine;
  if (name == "constant") return LrSchedule::kConstant;
  throw InputError("unknown learning-rate schedule '" + name + "': expected cosine or constant");
}

NoiseModel TrainOptions::resolved_noise(const Architecture& arch) const {
  return noise.layers.empty() ? NoiseModel::none(arch.num_layers()) : noise;
}

void TrainOptions::validate(const Architecture& arch) const {
  if (epochs < 0) throw InputError("epochs must be >= 0, found " + std::to_string(epochs));
  if (batch_size < 1) {
    throw InputError("batch size must be >= 1, found " + std::to_string(batch_size));
  }
  if (threads < 0) throw InputError("threads must be >= 0, found " + std::to_string(threads));
  optimizer.validate();
  resolved_noise(arch).validate(arch.num_layers(), "training noise");
}

std::vector<uint32_t> epoch_permutation(size_t n, uint64_t seed, int epoch) {
  return permutation(n, RngStream{seed, Purpose::kShuffle, static_cast<uint32_t>(epoch), 0, 0});
}

std::string TrainSummary::report() const {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(4);
  for (const EpochLog& e : epochs) {
    os << "epoch " << e.epoch << "  loss " << e.loss << "  train acc " << 100 * e.accuracy << "%  "
       << e.seconds << " s\n";
  }
  if (diverged) os << "diverged: " << message << '\n';
  os.precision(1);
  os << "total " << seconds << " s, " << samples_per_second << " samples/s\n";
  return os.str();
}

namespace {

// sqrt(FLT_MAX) ~ 1.8e19: a larger gradient component overflows when squared.
constexpr float kMaxGradient = 1.8e19f;

// Why a step's loss or gradient was not finite (or overflowing), and what to change: the
// weights already held NaN or inf; or the same batch without noise is fine, so the training
// noise overflowed float32; or else the step size. Runs one more batch (only after a divergence).
std::string divergence_cause(Engine& engine, const Network& net, const Mat& xb, const int* yb,
                             const NoiseModel& noise) {
  if (!net.all_finite()) return "the network's weights hold NaN or inf";
  if (noise.any()) {
    Vec grad;
    const NoiseDraws draws{0, Purpose::kTrainNoise, 0, 0};
    const BatchResult quiet =
        engine.loss_and_grad(net, xb, yb, NoiseModel::none(net.num_layers()), draws, grad);
    if (std::isfinite(quiet.loss) && grad.allFinite() &&
        grad.cwiseAbs().maxCoeff() <= kMaxGradient) {
      return "the training noise (" + noise.describe() +
             ") overflowed float32, while the same step without noise is finite: train at "
             "smaller noise stds (--noise-*, --noise-preset)";
    }
  }
  return "try a smaller learning rate (--lr)";
}

}  // namespace

TrainSummary train(Network& net, const Mat& images, const std::vector<int>& labels, TrainOptions o,
                   TrainState& state, const TrainCallbacks& cb) {
  o.validate(net.arch());
  o.noise = o.resolved_noise(net.arch());  // o is this call's copy
  check_labelled_data(net.arch(), images, labels, "training set");
  const size_t N = static_cast<size_t>(images.rows());
  Engine engine(o.threads);
  const FlushSubnormals ftz;
  TrainSummary summary;
  const size_t B = static_cast<size_t>(o.batch_size);
  const size_t steps_per_epoch = (N + B - 1) / B;
  Mat xb(static_cast<Eigen::Index>(std::min(B, N)), images.cols());
  std::vector<int> yb(std::min(B, N));
  Vec grad;
  const auto t_start = Clock::now();
  size_t samples = 0;
  for (int epoch = state.epochs_done; epoch < o.epochs && !summary.diverged; ++epoch) {
    const auto t0 = Clock::now();
    const std::vector<uint32_t> perm = epoch_permutation(N, o.seed, epoch);
    double loss_sum = 0;
    size_t correct = 0, seen = 0;
    for (size_t k = 0; k < steps_per_epoch; ++k) {
      const size_t begin = k * B, n = std::min(B, N - begin);
      gather_rows(images, labels, perm.data() + begin, n, xb, yb);  // xb: n rows
      NoiseDraws draws{o.seed, Purpose::kTrainNoise,
                       static_cast<uint32_t>(static_cast<size_t>(epoch) * steps_per_epoch + k), 0};
      const BatchResult res = engine.loss_and_grad(net, xb.topRows(static_cast<Eigen::Index>(n)),
                                                   yb.data(), o.noise, draws, grad);
      // A gradient whose square overflows float32 (Adam's second moment) would turn the weights
      // into NaN or inf at this step: a divergence too, caught while the weights are finite.
      const bool finite = std::isfinite(res.loss) && grad.allFinite();
      if (!finite || grad.cwiseAbs().maxCoeff() > kMaxGradient) {
        summary.diverged = true;
        std::ostringstream os;
        if (finite) {
          os << "gradient overflow at epoch " << epoch + 1 << ", step " << k + 1 << " (largest |g| "
             << grad.cwiseAbs().maxCoeff() << ", whose square overflows float32); ";
        } else {
          os << "non-finite loss at epoch " << epoch + 1 << ", step " << k + 1 << "; ";
        }
        os << divergence_cause(engine, net, xb.topRows(static_cast<Eigen::Index>(n)), yb.data(),
                               o.noise);
        summary.message = os.str();
        break;
      }
      OptimizerOptions step_opts = o.optimizer;
      if (o.schedule == LrSchedule::kCosine) {
        const double t = static_cast<double>(static_cast<size_t>(epoch) * steps_per_epoch + k);
        const double T = static_cast<double>(static_cast<size_t>(o.epochs) * steps_per_epoch);
        step_opts.lr *= 0.5 * (1 + std::cos(3.141592653589793 * t / T));
      }
      optimizer_step(net.params(), grad, state.optimizer, step_opts, engine.threads());
      net.project();
      loss_sum += res.loss * static_cast<double>(n);
      correct += static_cast<size_t>(res.correct);
      seen += n;
      samples += n;
      if (cb.progress) cb.progress(seen, N, loss_sum / static_cast<double>(seen));
    }
    if (summary.diverged) break;
    EpochLog log;
    log.epoch = epoch + 1;
    log.loss = loss_sum / static_cast<double>(seen);
    log.accuracy = static_cast<double>(correct) / static_cast<double>(seen);
    log.seconds = seconds_since(t0);
    summary.epochs.push_back(log);
    state.epochs_done = epoch + 1;
    if (cb.epoch_end) cb.epoch_end(log, state);
    if (cb.stop && cb.stop()) break;
  }
  summary.seconds = seconds_since(t_start);
  summary.samples_per_second = summary.seconds > 0 ? samples / summary.seconds : 0;
  return summary;
}

}  // namespace gift

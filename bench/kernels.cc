// The hot kernels of gift, timed with Google Benchmark, each checked against a reference
// before anything is timed (a failed check prints why and exits 1):
//   network_forward/SITE      the default network on a 128-row batch       float vs double
//   network_backward/SITE     backward + accumulate_layer_grad, 128 rows   float vs double
//   loss_and_grad/SITE        Engine::loss_and_grad, the whole step        float vs double,
//                                                                         double vs finite diff.
//   fill_normal/N             Philox + Box-Muller normals                  mean and std
//   variance_product          (h⊙h)(W⊙W)ᵀ at the first layer's shape       double loops
//   plain_product             h Wᵀ at the same shape                       double loops
//   optimizer_step            Adam over the default network's parameters   scalar double loop
//   predict/SITE              Engine::predict on 10,000 rows, one draw     float vs double
// SITE is none or one site at std 0.1 on every layer (bench/common.h). Rates are counters:
// items/s (rows, normals or parameters), FLOP/s where the count is clear (2 B I O per GEMM,
// counting the GEMMs the model needs: weight noise doubles them).
//
// Usage: kernels [--threads=N] [Google Benchmark flags, e.g. --benchmark_filter=forward
//        --benchmark_min_time=0.2]
// --threads sets the Engine's threads (loss_and_grad, predict; default: all cores); every
// other kernel runs on one thread.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/onn/forward.h"
#include "gift/train/engine.h"
#include "gift/train/loss.h"
#include "gift/train/optimizer.h"

namespace gift::bench {
namespace {

constexpr int kBatch = 128;
constexpr int kPredictRows = 10000;
constexpr int kPredictCheckRows = 1000;

// Everything the benchmarks read, built once.
struct Fixture {
  Network net{Architecture::default_mnist()};
  NetworkD net_d;
  Mat x = synthetic_images(kBatch, 784);  // B x 784
  std::vector<int> labels = synthetic_labels(kBatch);
  Mat x_predict = synthetic_images(kPredictRows, 784);
  std::vector<int> labels_predict = synthetic_labels(kPredictRows);
  std::vector<Site> sites;
  int threads = 0;

  Fixture() {
    net.init(1);
    net_d = net.cast<double>();
    sites = all_sites(net.num_layers());
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

const NoiseDraws kDraws{1, Purpose::kTrainNoise, 0, 0};

// Rows (or other items) per second, and FLOP per second (printed "FLOP=70.1G/s") from the FLOP
// of one iteration.
void set_rates(benchmark::State& state, double items, double flop) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * items));
  if (flop > 0) {
    state.counters["FLOP"] =
        benchmark::Counter(flop, benchmark::Counter::kIsIterationInvariantRate);
  }
}

bool weight_noise(const NoiseModel& n) { return n.layers.front().weight > 0; }

// GEMM FLOP per sample, forward and backward (network_backward without dx, then every layer's
// accumulate_layer_grad), with the weight-noise GEMMs where the model has them.
double forward_flop_of(const Architecture& a, const NoiseModel& n) {
  return forward_flop(a) * (weight_noise(n) ? 2 : 1);
}
double backward_flop_of(const Architecture& a, const NoiseModel& n) {
  return (train_flop(a) - forward_flop(a)) * (weight_noise(n) ? 2 : 1);
}

// The gradient of the mean loss over `x` through the three public kernels, on one tape.
template <class T>
void kernel_gradient(Tape<T>& tape, VecT<T>& grad, const NetworkT<T>& net, const MatT<T>& x,
                     const int* labels, const NoiseModel& noise) {
  network_forward<T>(tape, net, x, noise, &kDraws);
  MatT<T> dlogits;
  softmax_xent<T>(tape.logits(), labels, &dlogits, T(1) / static_cast<T>(x.rows()), nullptr);
  network_backward<T>(tape, net, noise, dlogits, nullptr);
  grad.setZero(net.params().size());
  const std::vector<const Tape<T>*> tapes{&tape};
  for (size_t l = 0; l < net.num_layers(); ++l) {
    accumulate_layer_grad<T>(grad, net, noise, tapes, l, 0, net.arch().sizes[l + 1]);
  }
}

// --- checks -----------------------------------------------------------------------------------

void check_forward(const Site& s) {
  const Fixture& f = fixture();
  Tape<float> tape;
  Tape<double> tape_d;
  network_forward<float>(tape, f.net, f.x, s.noise, &kDraws);
  const MatD xd = f.x.cast<double>();
  network_forward<double>(tape_d, f.net_d, xd, s.noise, &kDraws);
  check("network_forward/" + s.name, "logits rel. error vs double",
        relative_error(tape.logits(), tape_d.logits()), 1e-4);
}

void check_backward(const Site& s) {
  const Fixture& f = fixture();
  Tape<float> tape;
  Tape<double> tape_d;
  Vec g;
  VecD gd;
  kernel_gradient<float>(tape, g, f.net, f.x, f.labels.data(), s.noise);
  kernel_gradient<double>(tape_d, gd, f.net_d, f.x.cast<double>(), f.labels.data(), s.noise);
  check("network_backward/" + s.name, "gradient rel. error vs double", relative_error(g, gd), 1e-3);
}

// The double gradient of the loss against central differences at the largest-gradient
// weight of each layer, and the float gradient against the double one.
void check_loss_and_grad(const Site& s) {
  const Fixture& f = fixture();
  Engine engine(f.threads);
  EngineT<double> engine_d(1);
  const MatD xd = f.x.cast<double>();
  Vec g;
  VecD gd;
  engine.loss_and_grad(f.net, f.x, f.labels.data(), s.noise, kDraws, g);
  engine_d.loss_and_grad(f.net_d, xd, f.labels.data(), s.noise, kDraws, gd);
  check("loss_and_grad/" + s.name, "gradient rel. error vs double", relative_error(g, gd), 1e-3);

  // A step that moves some pre-activation across a ReLU kink spoils a difference quotient
  // (seen at h = 1e-5 on out_add), so each weight takes the better of two step sizes.
  NetworkD probe = f.net_d;
  VecD scratch;
  double worst = 0;
  for (size_t l = 0; l < probe.num_layers(); ++l) {
    const Eigen::Index begin = static_cast<Eigen::Index>(probe.weight_offset(l));
    const Eigen::Index n = static_cast<Eigen::Index>(probe.bias_offset(l)) - begin;
    Eigen::Index k = 0;
    gd.segment(begin, n).cwiseAbs().maxCoeff(&k);
    const Eigen::Index i = begin + k;
    const double p0 = probe.params()[i];
    double best = INFINITY;
    for (const double h : {1e-5, 1e-6}) {
      auto loss_at = [&](double p) {
        probe.params()[i] = p;
        return engine_d.loss_and_grad(probe, xd, f.labels.data(), s.noise, kDraws, scratch).loss;
      };
      const double fd = (loss_at(p0 + h) - loss_at(p0 - h)) / (2 * h);
      probe.params()[i] = p0;
      best = std::min(best, std::abs(fd - gd[i]) / (std::abs(gd[i]) + 1e-6));
    }
    worst = std::max(worst, best);
  }
  check("loss_and_grad/" + s.name, "double grad. rel. error vs finite diff.", worst, 1e-5);
}

void check_fill_normal() {
  const size_t n = size_t{1} << 20;
  std::vector<float> z(n);
  fill_normal(z.data(), n, RngStream{7, Purpose::kTest, 1, 2, 3});
  double sum = 0, sum_sq = 0;
  for (float v : z) {
    sum += v;
    sum_sq += static_cast<double>(v) * v;
  }
  const double mean = sum / n, sd = std::sqrt(sum_sq / n - mean * mean);
  // 5 standard errors: the mean's is 1/sqrt(n), the sample std's 1/sqrt(2n).
  check("fill_normal", "|mean| / (5/sqrt(n))", std::abs(mean) / (5 / std::sqrt(double(n))), 1);
  check("fill_normal", "|std - 1| / (5/sqrt(2n))", std::abs(sd - 1) / (5 / std::sqrt(2.0 * n)), 1);
}

// The first layer's GEMM shapes: h (B x 784) and W_0 (256 x 784).
void products(const Mat& h, const Eigen::Map<const Mat>& W, Mat& plain, Mat& variance) {
  plain.noalias() = h * W.transpose();
  const Mat h_sq = h.array().square().matrix();
  const Mat w_sq = W.array().square().matrix();
  variance.noalias() = h_sq * w_sq.transpose();
}

void check_products() {
  const Fixture& f = fixture();
  const auto W = f.net.weight(0);
  Mat plain(kBatch, W.rows()), variance(kBatch, W.rows());
  products(f.x, W, plain, variance);
  MatD ref_plain(plain.rows(), plain.cols()), ref_var(plain.rows(), plain.cols());
  for (Eigen::Index b = 0; b < f.x.rows(); ++b) {
    for (Eigen::Index o = 0; o < W.rows(); ++o) {
      double s = 0, q = 0;
      for (Eigen::Index i = 0; i < W.cols(); ++i) {
        const double hv = f.x(b, i), wv = W(o, i);
        s += hv * wv;
        q += hv * hv * wv * wv;
      }
      ref_plain(b, o) = s;
      ref_var(b, o) = q;
    }
  }
  check("plain_product", "rel. error vs double loops", relative_error(plain, ref_plain), 1e-5);
  check("variance_product", "rel. error vs double loops", relative_error(variance, ref_var), 1e-5);
}

// Adam against the textbook update in double, over three steps with fresh gradients.
void check_optimizer() {
  const Fixture& f = fixture();
  const Eigen::Index n = f.net.params().size();
  OptimizerOptions opts;
  OptimizerState state;
  Vec p = f.net.params();
  VecD ref = p.cast<double>(), m = VecD::Zero(n), v = VecD::Zero(n);
  Vec g(n);
  for (int t = 1; t <= 3; ++t) {
    fill_normal(g.data(), static_cast<size_t>(n),
                RngStream{3, Purpose::kTest, 0, 0, static_cast<uint32_t>(t)});
    optimizer_step(p, g, state, opts);
    for (Eigen::Index i = 0; i < n; ++i) {
      const double gi = g[i];
      m[i] = opts.beta1 * m[i] + (1 - opts.beta1) * gi;
      v[i] = opts.beta2 * v[i] + (1 - opts.beta2) * gi * gi;
      const double m_hat = m[i] / (1 - std::pow(opts.beta1, t));
      const double v_hat = v[i] / (1 - std::pow(opts.beta2, t));
      ref[i] -= opts.lr * m_hat / (std::sqrt(v_hat) + opts.eps);
    }
  }
  const VecD moved = ref - f.net.params().cast<double>();
  check("optimizer_step", "update rel. error vs scalar double",
        relative_error(p - f.net.params(), moved), 1e-4);
}

void check_predict(const Site& s) {
  const Fixture& f = fixture();
  const int n = kPredictCheckRows;
  Engine engine(f.threads);
  EngineT<double> engine_d(f.threads);
  std::vector<int> pred(n), pred_d(n);
  const double loss = engine.predict(f.net, f.x_predict.topRows(n), f.labels_predict.data(),
                                     s.noise, kDraws, pred.data());
  const MatD xd = f.x_predict.topRows(n).cast<double>();
  const double loss_d =
      engine_d.predict(f.net_d, xd, f.labels_predict.data(), s.noise, kDraws, pred_d.data());
  int differ = 0;
  for (int i = 0; i < n; ++i) differ += pred[i] != pred_d[i];
  check("predict/" + s.name, "summed loss rel. error vs double",
        std::abs(loss - loss_d) / std::abs(loss_d), 1e-4);
  check("predict/" + s.name, "fraction of classes unlike double", double(differ) / n, 1e-2);
}

// --- benchmarks -------------------------------------------------------------------------------

void bm_forward(benchmark::State& state, const Site* s) {
  const Fixture& f = fixture();
  const FlushSubnormals ftz;
  Tape<float> tape;
  for (auto _ : state) {
    network_forward<float>(tape, f.net, f.x, s->noise, &kDraws);
    benchmark::DoNotOptimize(tape.logits().data());
  }
  set_rates(state, kBatch, kBatch * forward_flop_of(f.net.arch(), s->noise));
}

void bm_backward(benchmark::State& state, const Site* s) {
  const Fixture& f = fixture();
  const FlushSubnormals ftz;
  Tape<float> tape;
  Vec grad;
  network_forward<float>(tape, f.net, f.x, s->noise, &kDraws);
  Mat dlogits;
  softmax_xent<float>(tape.logits(), f.labels.data(), &dlogits, 1.0f / kBatch, nullptr);
  const std::vector<const Tape<float>*> tapes{&tape};
  for (auto _ : state) {
    network_backward<float>(tape, f.net, s->noise, dlogits, nullptr);
    grad.setZero(f.net.params().size());
    for (size_t l = 0; l < f.net.num_layers(); ++l) {
      accumulate_layer_grad<float>(grad, f.net, s->noise, tapes, l, 0, f.net.arch().sizes[l + 1]);
    }
    benchmark::DoNotOptimize(grad.data());
  }
  set_rates(state, kBatch, kBatch * backward_flop_of(f.net.arch(), s->noise));
}

void bm_loss_and_grad(benchmark::State& state, const Site* s) {
  const Fixture& f = fixture();
  Engine engine(f.threads);
  Vec grad;
  for (auto _ : state) {
    engine.loss_and_grad(f.net, f.x, f.labels.data(), s->noise, kDraws, grad);
    benchmark::DoNotOptimize(grad.data());
  }
  state.counters["threads"] = engine.threads();
  set_rates(state, kBatch,
            kBatch * (forward_flop_of(f.net.arch(), s->noise) +
                      backward_flop_of(f.net.arch(), s->noise)));
}

void bm_fill_normal(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<float> z(n);
  uint32_t a = 0;
  for (auto _ : state) {
    fill_normal(z.data(), n, RngStream{1, Purpose::kTest, a++, 0, 0});
    benchmark::DoNotOptimize(z.data());
  }
  set_rates(state, static_cast<double>(n), 0);
}

void bm_product(benchmark::State& state, bool variance) {
  const Fixture& f = fixture();
  const FlushSubnormals ftz;
  const auto W = f.net.weight(0);
  Mat out(kBatch, W.rows()), h_sq, w_sq;
  for (auto _ : state) {
    if (variance) {  // squares included: forward squares W and h on every pass
      h_sq = f.x.array().square().matrix();
      w_sq = W.array().square().matrix();
      out.noalias() = h_sq * w_sq.transpose();
    } else {
      out.noalias() = f.x * W.transpose();
    }
    benchmark::DoNotOptimize(out.data());
  }
  set_rates(state, kBatch, 2.0 * kBatch * W.rows() * W.cols());
}

void bm_optimizer(benchmark::State& state) {
  const Fixture& f = fixture();
  const FlushSubnormals ftz;
  Vec p = f.net.params(), g(p.size());
  fill_normal(g.data(), static_cast<size_t>(g.size()), RngStream{3, Purpose::kTest, 0, 0, 0});
  OptimizerState st;
  const OptimizerOptions opts;
  for (auto _ : state) {
    optimizer_step(p, g, st, opts);
    benchmark::DoNotOptimize(p.data());
  }
  set_rates(state, static_cast<double>(p.size()), 0);
  // Reads params, grad, m, v and writes params, m, v: 7 floats per parameter.
  state.SetBytesProcessed(state.iterations() * p.size() * 7 * int64_t{sizeof(float)});
}

void bm_predict(benchmark::State& state, const Site* s) {
  const Fixture& f = fixture();
  Engine engine(f.threads);
  std::vector<int> pred(kPredictRows);
  uint32_t pass = 0;
  for (auto _ : state) {
    const NoiseDraws d{1, Purpose::kEvalNoise, pass++, 0};
    engine.predict(f.net, f.x_predict, nullptr, s->noise, d, pred.data());
    benchmark::DoNotOptimize(pred.data());
  }
  state.counters["threads"] = engine.threads();
  set_rates(state, kPredictRows, kPredictRows * forward_flop_of(f.net.arch(), s->noise));
}

}  // namespace
}  // namespace gift::bench

int main(int argc, char** argv) {
  using namespace gift::bench;
  benchmark::Initialize(&argc, argv);
  Fixture& f = fixture();
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      f.threads = std::atoi(argv[i] + 10);
    } else {
      std::fprintf(stderr,
                   "kernels: unknown argument '%s' (expected --threads=N or a "
                   "--benchmark_* flag)\n",
                   argv[i]);
      return 1;
    }
  }
  try {
    f.threads = gift::resolve_threads(f.threads);
  } catch (const gift::Error& e) {
    std::fprintf(stderr, "kernels: --threads: %s\n", e.what());
    return 1;
  }

  for (const Site& s : f.sites) {
    check_forward(s);
    check_backward(s);
    check_loss_and_grad(s);
    check_predict(s);
  }
  check_fill_normal();
  check_products();
  check_optimizer();

  const auto us = benchmark::kMicrosecond;
  for (const Site& s : f.sites) {
    benchmark::RegisterBenchmark(("network_forward/" + s.name).c_str(), bm_forward, &s)
        ->Unit(us)
        ->UseRealTime();
  }
  for (const Site& s : f.sites) {
    benchmark::RegisterBenchmark(("network_backward/" + s.name).c_str(), bm_backward, &s)
        ->Unit(us)
        ->UseRealTime();
  }
  for (const Site& s : f.sites) {
    benchmark::RegisterBenchmark(("loss_and_grad/" + s.name).c_str(), bm_loss_and_grad, &s)
        ->Unit(us)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("fill_normal", bm_fill_normal)
      ->Arg(256)
      ->Arg(1 << 16)
      ->Unit(us)
      ->UseRealTime();
  benchmark::RegisterBenchmark("variance_product", bm_product, true)->Unit(us)->UseRealTime();
  benchmark::RegisterBenchmark("plain_product", bm_product, false)->Unit(us)->UseRealTime();
  benchmark::RegisterBenchmark("optimizer_step", bm_optimizer)->Unit(us)->UseRealTime();
  for (const Site& s : f.sites) {
    benchmark::RegisterBenchmark(("predict/" + s.name).c_str(), bm_predict, &s)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

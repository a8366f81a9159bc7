// Training throughput of the default network (784-256-128-64-32-10 relu, Adam,
// batch 128) on synthetic MNIST-shaped data, in samples per second and GFLOP/s (1.06 MFLOP
// per sample, bench/common.h).
// Usage: train_throughput [threads] [steps] [noise: none|weight|sum_mult|sum_add|out_add|all|
//                         physical] [arch (default 784-256-128-64-32-10)] [batch (default 128)]
//                         [chain: physical (default) | legacy]
// (physical: sum_add 0.1 with shot 0.05 and drift 0.01, the new sites that enter training.)
// (one site at std 0.1 on every layer; all: every site at once). bench/scaling.sh varies the
// architecture and the batch.
// Before timing, checks the float gradient of one batch against the double one.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "common.h"
#include "gift/core/rng.h"
#include "gift/train/engine.h"
#include "gift/train/optimizer.h"

using namespace gift;

namespace {
int run(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 300;
  const std::string mode = argc > 3 ? argv[3] : "none";
  const Chain chain = argc > 6 ? parse_chain(argv[6]) : Chain::kPhysical;
  const Architecture arch = Architecture::from_string(argc > 4 ? argv[4] : kDefaultArchitecture,
                                                      Activation::kRelu, 1.0, chain);
  const int B = argc > 5 ? std::atoi(argv[5]) : 128;
  if (B < 1 || steps < 1) {
    std::fprintf(stderr, "train_throughput: batch and steps must be >= 1\n");
    return 1;
  }
  Network net(arch);
  net.init(1);
  NoiseModel noise;
  if (!bench::site_noise(mode, net.num_layers(), &noise)) {
    std::fprintf(stderr,
                 "train_throughput: unknown noise '%s' (expected none, weight, sum_mult, "
                 "sum_add, out_add or all)\n",
                 mode.c_str());
    return 1;
  }
  const Mat x = bench::synthetic_images(B * 8, arch.inputs());
  const std::vector<int> y = bench::synthetic_labels(static_cast<size_t>(x.rows()));

  // Check: float gradient vs double gradient of the same batch and draws.
  Engine engine(threads);
  EngineT<double> engine_d(1);
  const NoiseDraws d0{1, Purpose::kTrainNoise, 0, 0};
  Vec g;
  VecD gd;
  engine.loss_and_grad(net, x.topRows(B), y.data(), noise, d0, g);
  const NetworkD net_d = net.cast<double>();
  const MatD xd = x.topRows(B).cast<double>();
  engine_d.loss_and_grad(net_d, xd, y.data(), noise, d0, gd);
  const double rel = (g.cast<double>() - gd).norm() / gd.norm();
  if (!(rel < 1e-3)) {
    std::fprintf(stderr, "check failed: float/double gradient relative error %g\n", rel);
    return 1;
  }

  OptimizerState state;
  OptimizerOptions opts;
  const FlushSubnormals ftz;
  auto run = [&](int n) {
    for (int s = 0; s < n; ++s) {
      const Eigen::Index r0 = (s % 8) * B;
      const NoiseDraws d{1, Purpose::kTrainNoise, static_cast<uint32_t>(s), 0};
      engine.loss_and_grad(net, x.middleRows(r0, B), y.data() + r0, noise, d, g);
      optimizer_step(net.params(), g, state, opts, engine.threads());
      net.project();
    }
  };
  run(20);  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  run(steps);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double rate = steps * B / sec;
  std::printf(
      "gift  threads=%d noise=%-8s chain=%s batch=%d steps=%d  %.0f samples/s  %.1f GFLOP/s  "
      "(grad check rel %.1e)%s%s\n",
      engine.threads(), mode.c_str(), to_string(chain), B, steps, rate,
      rate * bench::train_flop(net.arch()) * 1e-9, rel, argc > 4 ? "  arch " : "",
      argc > 4 ? argv[4] : "");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // a bad architecture string, out of memory
    std::fprintf(stderr, "train_throughput: error: %s\n", e.what());
    return 1;
  }
}

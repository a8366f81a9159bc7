// Monte-Carlo noisy inference, the path of every accuracy a study reports: gift::evaluate
// (DRAWS passes over the test images under fresh noise) on the default network, in
// images*draws per second. bench/pytorch_mc.py does the same forward passes in PyTorch.
// Usage: mc_inference THREADS DRAWS SITE [DATA_DIR [CHECKPOINT]]
//   SITE: none | weight | sum_mult | sum_add | out_add (std 0.1 on every layer) | all.
//   DATA_DIR: the MNIST test split (t10k-*-idx*-ubyte, raw or .gz); default data/mnist. Where
//     it is missing, 10,000 synthetic images of the same shape.
//   CHECKPOINT: a trained network of the default architecture (safetensors); default: the
//     default network at its initialisation (seed 1). With one, the accuracy means something.
// A noiseless network needs one pass (evaluate does one), so for SITE none the DRAWS passes
// are DRAWS calls of one pass each: the per-pass rate is what compares.
// Before timing, checks float predictions on 1,000 images against double ones.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common.h"
#include "gift/core/error.h"
#include "gift/data/dataset.h"
#include "gift/io/checkpoint.h"
#include "gift/train/engine.h"
#include "gift/train/evaluate.h"

using namespace gift;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: mc_inference THREADS DRAWS SITE [DATA_DIR [CHECKPOINT]]\n");
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  const int draws = std::atoi(argv[2]);
  const std::string site = argv[3];
  const std::string data_dir = argc > 4 ? argv[4] : "data/mnist";
  const std::string checkpoint = argc > 5 ? argv[5] : "";
  try {
    Network net(Architecture::default_mnist());
    if (checkpoint.empty()) {
      net.init(1);
    } else {
      net = io::load_checkpoint(checkpoint).net;
    }
    NoiseModel noise;
    if (!bench::site_noise(site, net.num_layers(), &noise) || draws < 1) {
      std::fprintf(stderr,
                   "mc_inference: expected DRAWS >= 1 and SITE none, weight, sum_mult, "
                   "sum_add, out_add or all, found %d and '%s'\n",
                   draws, site.c_str());
      return 2;
    }
    Mat images;
    std::vector<int> labels;
    std::string source = data_dir;
    try {
      data::Dataset test = data::load_mnist(data_dir, data::Split::kTest);
      images = std::move(test.images);
      labels = std::move(test.labels);
    } catch (const InputError&) {
      source = "synthetic";
      images = bench::synthetic_images(10000, net.arch().inputs());
      labels = bench::synthetic_labels(10000);
    }
    const Eigen::Index N = images.rows();

    // Check: float against double on the first 1,000 images, one draw.
    const Eigen::Index n_check = std::min<Eigen::Index>(N, 1000);
    const NoiseDraws d0{1, Purpose::kEvalNoise, 0, 0};
    std::vector<int> pred(static_cast<size_t>(n_check)), pred_d(pred.size());
    Engine engine(threads);
    EngineT<double> engine_d(threads);
    const double loss =
        engine.predict(net, images.topRows(n_check), labels.data(), noise, d0, pred.data());
    const MatD xd = images.topRows(n_check).cast<double>();
    const double loss_d =
        engine_d.predict(net.cast<double>(), xd, labels.data(), noise, d0, pred_d.data());
    int differ = 0;
    for (size_t i = 0; i < pred.size(); ++i) differ += pred[i] != pred_d[i];
    const double rel = std::abs(loss - loss_d) / std::abs(loss_d);
    if (!(rel < 1e-4) || differ > n_check / 100) {
      std::fprintf(stderr,
                   "mc_inference: check failed: float vs double loss relative error %g, "
                   "%d of %ld classes differ; not timed\n",
                   rel, differ, static_cast<long>(n_check));
      return 1;
    }

    EvalOptions opts;
    opts.noise = noise;
    opts.repeats = draws;
    opts.threads = threads;
    const int calls = noise.any() ? 1 : draws;  // evaluate makes one pass when noiseless
    evaluate(net, images.topRows(std::min<Eigen::Index>(N, 1000)),
             std::vector<int>(labels.begin(), labels.begin() + std::min<Eigen::Index>(N, 1000)),
             EvalOptions{noise, 1, 1, threads});  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    double accuracy = 0;
    for (int c = 0; c < calls; ++c) accuracy += evaluate(net, images, labels, opts).mean;
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    accuracy /= calls;
    const double rate = static_cast<double>(N) * draws / sec;
    std::printf(
        "gift  threads=%d site=%-8s draws=%d images=%ld (%s)  %.0f images*draws/s  "
        "%.1f GFLOP/s  %.3f s  accuracy %.2f%%  (check rel %.1e)\n",
        engine.threads(), site.c_str(), draws, static_cast<long>(N), source.c_str(), rate,
        rate * bench::forward_flop(net.arch()) * 1e-9, sec, 100 * accuracy, rel);
  } catch (const Error& e) {
    std::fprintf(stderr, "mc_inference: %s\n", e.what());
    return 1;
  }
  return 0;
}

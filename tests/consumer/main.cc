// A program written against the installed gift (tests/consumer/CMakeLists.txt): initialises a
// small network, saves it as a checkpoint and loads it back, evaluates it under noise on a fixed
// batch, runs it on a simulated chip, and prints the numbers to the last bit. Built both against an
// install (find_package) and in the gift tree; tests/consumer/run.sh checks that both print the
// same, so headers, library and the flags that cross the boundary (EIGEN_MAX_ALIGN_BYTES) agree.
#include <cstdio>
#include <exception>
#include <vector>

#include "gift/core/error.h"
#include "gift/core/version.h"
#include "gift/insitu/simulated_device.h"
#include "gift/io/checkpoint.h"
#include "gift/train/evaluate.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer CHECKPOINT_TO_WRITE\n");
    return 2;
  }
  try {
    gift::io::Checkpoint saved;
    saved.net =
        gift::Network(gift::Architecture::from_string("48-24-16-10", gift::Activation::kRelu, 1.0));
    saved.net.init(5);
    gift::io::save_checkpoint(argv[1], saved);
    const gift::io::Checkpoint ckpt = gift::io::load_checkpoint(argv[1]);
    const gift::Architecture& arch = ckpt.net.arch();
    std::printf("gift %s, %s\n", gift::version(), arch.describe().c_str());

    // 64 fixed inputs in [0, 1) and labels 0..classes-1.
    const int n = 64;
    gift::Mat x(n, arch.inputs());
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < arch.inputs(); ++j) x(i, j) = float((i * 7 + j * 13) % 17) / 17.0f;
    std::vector<int> labels(n);
    for (int i = 0; i < n; ++i) labels[i] = i % arch.outputs();

    gift::EvalOptions eval;
    eval.noise = gift::NoiseModel::uniform(arch.num_layers(), gift::NoiseSite::kSumAdd, 0.1);
    eval.repeats = 4;
    eval.seed = 3;
    const gift::EvalResult r = gift::evaluate(ckpt.net, x, labels, eval);
    std::printf("evaluate: accuracy %.17g loss %.17g\n", r.mean, r.loss);

    gift::SimulatedDeviceOptions device;
    device.noise = eval.noise;
    device.imperfections.gain_std = 0.02;
    device.seed = 11;
    gift::SimulatedDevice chip(arch, device);
    chip.program(ckpt.net);
    const gift::DeviceOutput out = chip.forward(x, true);
    double sum = 0;
    // A plain loop, not an Eigen reduction: its order would depend on the consumer's CPU flags.
    for (const gift::Mat& z : out.sums)
      for (int i = 0; i < z.rows(); ++i)
        for (int j = 0; j < z.cols(); ++j) sum += double(z(i, j));
    std::printf("device: %zu taps, sum of detected sums %.17g, out[0][0] %.9g\n", out.sums.size(),
                sum, double(out.out(0, 0)));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
}

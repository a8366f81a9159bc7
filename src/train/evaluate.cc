#include "gift/train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "gift/core/error.h"
#include "gift/core/stats.h"
#include "gift/train/engine.h"
#include "gift/train/loss.h"

namespace gift {
namespace {

// Throws InputError naming the first layer and part (weights, biases, gains) holding NaN or inf.
void check_finite_params(const Network& net, const std::string& what) {
  if (net.all_finite()) return;
  for (size_t l = 0; l < net.num_layers(); ++l) {
    const char* part = !net.weight(l).allFinite()                   ? "weights"
                       : !net.bias(l).allFinite()                   ? "biases"
                       : net.has_gain() && !net.gain(l).allFinite() ? "gains"
                                                                    : nullptr;
    if (part) {
      throw InputError(what + ": the network holds NaN or inf (the " + part + " of layer " +
                       std::to_string(l) + "); no accuracy is made from it");
    }
  }
  throw InputError(what + ": the network holds NaN or inf; no accuracy is made from it");
}

}  // namespace

NoiseModel EvalOptions::resolved_noise(const Architecture& arch) const {
  return noise.layers.empty() ? NoiseModel::none(arch.num_layers()) : noise;
}

void EvalOptions::validate(const Architecture& arch) const {
  if (repeats < 1) throw InputError("repeats must be >= 1, found " + std::to_string(repeats));
  if (threads < 0) throw InputError("threads must be >= 0, found " + std::to_string(threads));
  resolved_noise(arch).validate(arch.num_layers(), "evaluation noise");
}

std::string EvalResult::describe() const {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%.2f%% [%.2f, %.2f] (%zu draw%s)", 100 * mean, 100 * low,
                100 * high, accuracies.size(), accuracies.size() == 1 ? "" : "s");
  return buf;
}

EvalResult evaluate(const Network& net, const Mat& images, const std::vector<int>& labels,
                    EvalOptions o) {
  o.validate(net.arch());
  o.noise = o.resolved_noise(net.arch());  // o is this call's copy
  check_labelled_data(net.arch(), images, labels, "evaluation set");
  check_finite_params(net, "evaluation");
  const size_t N = static_cast<size_t>(images.rows());
  const int repeats = o.noise.any() ? o.repeats : 1;
  Engine engine(o.threads);
  // Repeats run in groups that share layer 0's product; a group's predictions are held at once.
  constexpr int kGroup = 32;
  std::vector<int> pred(N * static_cast<size_t>(std::min(repeats, kGroup)));
  std::vector<double> losses(static_cast<size_t>(kGroup));
  EvalResult r;
  double loss = 0;
  for (int k0 = 0; k0 < repeats; k0 += kGroup) {
    const int group = std::min(kGroup, repeats - k0);
    const NoiseDraws draws{o.seed, Purpose::kEvalNoise, static_cast<uint32_t>(k0), 0};
    engine.predict_repeats(net, images, labels.data(), o.noise, draws, group, pred.data(),
                           losses.data());
    for (int k = 0; k < group; ++k) {
      // A NaN or inf logit makes its image's loss NaN or inf: no accuracy from it.
      if (!std::isfinite(losses[static_cast<size_t>(k)])) {
        throw InputError("evaluation: the logits of draw " + std::to_string(k0 + k + 1) +
                         " hold NaN or inf: " +
                         (o.noise.any() ? "the noise (" + o.noise.describe() +
                                              ") overflowed float32; evaluate at smaller stds"
                                        : std::string("the noiseless outputs overflowed float32")));
      }
      loss += losses[static_cast<size_t>(k)];
      size_t correct = 0;
      const int* p = pred.data() + static_cast<size_t>(k) * N;
      for (size_t i = 0; i < N; ++i) correct += p[i] == labels[i];
      r.accuracies.push_back(static_cast<double>(correct) / static_cast<double>(N));
    }
  }
  const Interval ci =
      within(mean_ci95(r.accuracies, Over::kDraws), 0, 1);  // an accuracy lies in [0, 1]
  static_cast<Interval&>(r) = ci;
  r.loss = loss / (static_cast<double>(N) * repeats);
  return r;
}

}  // namespace gift

#include "gift/train/evaluate.h"

#include <algorithm>
#include <cstdio>

#include "gift/core/error.h"
#include "gift/core/stats.h"
#include "gift/train/engine.h"
#include "gift/train/loss.h"

namespace gift {

void EvalOptions::validate(const Architecture& arch) {
  if (repeats < 1) throw InputError("repeats must be >= 1, found " + std::to_string(repeats));
  if (threads < 0) throw InputError("threads must be >= 0, found " + std::to_string(threads));
  if (noise.layers.empty()) noise = NoiseModel::none(arch.num_layers());
  noise.validate(arch.num_layers(), "evaluation noise");
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
  check_labelled_data(net.arch(), images, labels, "evaluation set");
  const size_t N = static_cast<size_t>(images.rows());
  const int repeats = o.noise.any() ? o.repeats : 1;
  Engine engine(o.threads);
  std::vector<int> pred(N);
  EvalResult r;
  double loss = 0;
  for (int k = 0; k < repeats; ++k) {
    NoiseDraws draws{o.seed, Purpose::kEvalNoise, static_cast<uint32_t>(k), 0};
    loss += engine.predict(net, images, labels.data(), o.noise, draws, pred.data());
    size_t correct = 0;
    for (size_t i = 0; i < N; ++i) correct += pred[i] == labels[i];
    r.accuracies.push_back(static_cast<double>(correct) / static_cast<double>(N));
  }
  const MeanCI ci = mean_ci95(r.accuracies);
  r.mean = ci.mean;
  r.low = std::max(0.0, ci.low);  // an accuracy lies in [0, 1]
  r.high = std::min(1.0, ci.high);
  r.stddev = ci.stddev;
  r.loss = loss / (static_cast<double>(N) * repeats);
  return r;
}

}  // namespace gift

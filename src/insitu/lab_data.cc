#include "gift/insitu/lab_data.h"

#include <algorithm>
#include <string>

#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/core/stats.h"
#include "gift/train/loss.h"

namespace gift {

data::Dataset calibration_subset(const data::Dataset& train, size_t n, uint64_t seed) {
  const size_t N = train.labels.size();
  if (n == 0 || n > N) {
    throw InputError("calibration set size must be in [1, " + std::to_string(N) + "], found " +
                     std::to_string(n));
  }
  const std::vector<uint32_t> perm = permutation(N, RngStream{seed, Purpose::kCalibSubset});
  return data::gather(train, perm.data(), n);
}

LabSplit lab_split(const data::Dataset& test, size_t n, uint64_t seed) {
  const size_t N = test.labels.size();
  if (n == 0 || n >= N) {
    throw InputError("calibration set size must be in [1, " + std::to_string(N) +
                     ") (the test images, less at least one to judge the result on), found " +
                     std::to_string(n));
  }
  const std::vector<uint32_t> perm = permutation(N, RngStream{seed, Purpose::kLabSplit});
  return {data::gather(test, perm.data(), n), data::gather(test, perm.data() + n, N - n)};
}

DeviceAccuracy device_accuracy(Device& raw_device, const Network& net, const data::Dataset& data,
                               int repeats) {
  if (repeats < 1) throw InputError("device accuracy: repeats must be >= 1");
  check_labelled_data(net.arch(), data.images, data.labels, "device accuracy: the test set");
  CheckedDevice device(raw_device);  // no accuracy from NaN or inf, whatever the device
  device.program(net);
  DeviceAccuracy a;
  const size_t N = data.labels.size();
  double loss = 0;
  constexpr int kGroup = 16;  // repeats whose outputs are held at once
  for (int r0 = 0; r0 < repeats; r0 += kGroup) {
    for (const Mat& out : device.forward_passes(data.images, std::min(kGroup, repeats - r0))) {
      int correct = 0;
      loss += softmax_xent<float>(out, data.labels.data(), nullptr, 1.0f, &correct);
      a.per_repeat.push_back(static_cast<double>(correct) / static_cast<double>(N));
    }
  }
  const Interval ci =
      within(mean_ci95(a.per_repeat, Over::kDraws), 0, 1);  // an accuracy lies in [0, 1]
  static_cast<Interval&>(a) = ci;
  a.loss = loss / (static_cast<double>(N) * repeats);
  return a;
}

}  // namespace gift

// The lab's labelled data, held as data::Dataset (images and labels, one sample a row): the
// calibration set and the lab split drawn from a data set through named random streams (so the
// CLI, sweeps and frontiers pick the same images), and a network's accuracy on a device over
// repeated Monte-Carlo repeats of the whole set.
#pragma once

#include <cstdint>
#include <vector>

#include "gift/core/matrix.h"
#include "gift/core/stats.h"
#include "gift/data/dataset.h"
#include "gift/insitu/device.h"
#include "gift/onn/network.h"

namespace gift {

// A labelled calibration set drawn from a training set: `n` images of `train` chosen by `seed`
// (a seeded permutation). The lab of the CLI (calibrate and finetune) and of sweeps is
// lab_split's instead, from the test split; this stays for Python's calibration_subset. Throws
// InputError unless 1 <= n <= train size.
data::Dataset calibration_subset(const data::Dataset& train, size_t n, uint64_t seed);

// The lab's labelled images and the images a result is judged on, both from `test` (images the
// network never saw in training, so that scoring on them is not biased towards the start):
// `n` images chosen by `seed` (a seeded permutation) and the rest, disjoint. Throws InputError
// unless 1 <= n < test size.
struct LabSplit {
  data::Dataset calib;  // n images: calibration inputs, scoring hold-out, fitting (kCalibration)
  data::Dataset eval;   // the other test images: the reported accuracies
};
LabSplit lab_split(const data::Dataset& test, size_t n, uint64_t seed);

// The accuracy (mean, 95% interval over noise draws: repeats of the set through this one chip,
// not over chips or data), the loss, and each repeat's accuracy.
struct DeviceAccuracy : Interval {
  double loss = 0;
  std::vector<double> per_repeat;  // the accuracy of each repeat (one pass of every image)
};

// Accuracy of `net` on `device` over `repeats` repeats of `data` (each sends every image
// through the chip once; programs it first). Throws
// InputError, naming the device, if it returns NaN or inf (CheckedDevice, insitu/device.h).
DeviceAccuracy device_accuracy(Device& device, const Network& net, const data::Dataset& data,
                               int repeats);

}  // namespace gift

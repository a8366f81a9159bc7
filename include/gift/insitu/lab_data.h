// The lab's labelled data: a labelled set (images and labels, one sample a row), the rows of
// one gathered by index, the calibration set and the lab split drawn from it through named
// random streams (so the CLI, sweeps and frontiers pick the same images), and a network's
// accuracy on a device over repeated passes.
#pragma once

#include <cstdint>
#include <vector>

#include "gift/core/matrix.h"
#include "gift/core/stats.h"
#include "gift/insitu/device.h"
#include "gift/onn/network.h"

namespace gift {

struct LabelledSet {
  Mat images;               // N x I_0
  std::vector<int> labels;  // N
};

// xb, yb = the rows rows[0 .. n) of (images, labels), in that order (xb: n x images.cols()).
void gather_rows(const Mat& images, const std::vector<int>& labels, const uint32_t* rows, size_t n,
                 Mat& xb, std::vector<int>& yb);

// A labelled calibration set drawn from a training set: `n` images of `train` chosen by `seed`
// (a seeded permutation). The lab of the CLI (calibrate and finetune) and of sweeps is
// lab_split's instead, from the test split; this stays for Python's calibration_subset. Throws
// InputError unless 1 <= n <= train size.
LabelledSet calibration_subset(const LabelledSet& train, size_t n, uint64_t seed);

// The lab's labelled images and the images a result is judged on, both from `test` (images the
// network never saw in training, so that scoring on them is not biased towards the start):
// `n` images chosen by `seed` (a seeded permutation) and the rest, disjoint. Throws InputError
// unless 1 <= n < test size.
struct LabSplit {
  LabelledSet
      calib;  // n images: calibration inputs, scoring hold-out, fitting (FitData::kCalibration)
  LabelledSet eval;  // the other test images: the reported accuracies
};
LabSplit lab_split(const LabelledSet& test, size_t n, uint64_t seed);

// The accuracy (mean, 95% interval over noise draws: passes of the set through this one chip,
// not over chips or data), the loss, and each pass's accuracy.
struct DeviceAccuracy : Interval {
  double loss = 0;
  std::vector<double> per_pass;
};

// Accuracy of `net` on `device` over `repeats` passes of `data` (programs it first). Throws
// InputError, naming the device, if it returns NaN or inf (CheckedDevice, insitu/device.h).
DeviceAccuracy device_accuracy(Device& device, const Network& net, const LabelledSet& data,
                               int repeats);

}  // namespace gift

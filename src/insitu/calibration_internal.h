// Internal to src/insitu: the two calibration algorithms behind calibrate() and what they
// share. Both read the device's K*R x ... response to K inputs sent R times each (rows
// k*R .. k*R + R - 1 are input k) and fill a Calibration.
#pragma once

#include "gift/core/matrix.h"
#include "gift/insitu/calibration.h"
#include "gift/insitu/device.h"
#include "gift/onn/network.h"

namespace gift::calibration_detail {

// Per-input sample statistics over R consecutive rows of `m` (K*R x O): means and
// unbiased variances per (input, column) (K x O; var may be null).
void repeat_stats(const MatD& m, int K, int R, MatD* mean, MatD* var);

// A device with taps (calibration_layers.cc): every layer's sites, static weight error and
// static-error index, from the detected sums `dev.sums` of the batch `batch` (K*R x I_0).
// Every layer's nominal input is clipped to ±output_clip where it is > 0.
void calibrate_layers(Calibration& cal, const Network& net, const Mat& batch,
                      const DeviceOutput& dev, const CalibrationOptions& o, double output_clip);

// An output-only device (calibration_output_only.cc): one scale of `pattern` (of sum_add 1 on
// every layer when empty or all zero) whose twin reproduces the device's output variance.
void calibrate_output_only(Calibration& cal, const Network& net, const Mat& batch,
                           const DeviceOutput& dev, const CalibrationOptions& o,
                           const NoiseModel& pattern);

}  // namespace gift::calibration_detail

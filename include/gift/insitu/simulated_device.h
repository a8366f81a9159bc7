// A simulated chip: the "physical" ONN of the experiments. Built from its true
// NoiseModel, static imperfections and its own seed, which it never reveals through
// the Device interface. Fully deterministic: the n-th forward call uses noise stream
// (seed, kDeviceNoise, pass = n), row r as sample r.
#pragma once

#include "gift/insitu/device.h"
#include "gift/onn/forward.h"
#include "gift/onn/imperfections.h"
#include "gift/onn/noise.h"

namespace gift {

struct SimulatedDeviceOptions {
  NoiseModel noise;  // the true per-pass noise
  Imperfections imperfections;
  uint64_t seed = 1;  // fixed errors and noise draws
  bool taps = true;   // expose every layer's detected sum
  int threads = 0;
};

class SimulatedDevice : public Device {
 public:
  // Validates the options against `arch`.
  SimulatedDevice(const Architecture& arch, SimulatedDeviceOptions options);
  DeviceInfo info() const override;
  void program(const Network& net) override;
  DeviceOutput forward(const Mat& x, bool taps) override;
  std::vector<Mat> forward_passes(const Mat& x, int passes) override;
  DeviceCounters counters() const override { return counters_; }

 private:
  std::vector<DeviceOutput> run(const Mat& x, int passes, bool taps);
  Architecture arch_;
  SimulatedDeviceOptions opts_;
  Network programmed_;
  WeightStats<float> w_sq_;  // weight_stats of programmed_ under the device's noise
  bool has_weights_ = false;
  DeviceCounters counters_;
};

}  // namespace gift

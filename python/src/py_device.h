// Devices at the Python boundary (insitu/device.h):
//  - PyDevice, the C++ side of gift.Device: a chip written in Python. Each call takes the GIL
//    and calls the Python method: info() -> DeviceInfo; program(net) (a copy of the network);
//    forward(x, taps) (x: B x I_0 float32, a copy) -> out (B x O_L), or (sums, out) with
//    sums[l] B x O_l when taps; counters() optional (the calls are counted here otherwise).
//    What forward returns is checked against info().arch before gift uses it (InputError); NaN
//    and inf are refused where every device kind is checked, CheckedDevice (insitu/device.h),
//    which fine-tuning and device_accuracy call through. An exception raised in Python comes back
//    to the caller unchanged.
//  - StopCheckingDevice, a pass-through that checks for Ctrl-C before every call, so that a
//    long calibration or fine-tuning stops between device calls; it changes nothing else (the
//    wrapped device's forward_passes is called as it is).
#pragma once

#include <optional>

#include "common.h"
#include "gift/insitu/device.h"

namespace gift::py {

class PyDevice : public Device {
 public:
  DeviceInfo info() const override;
  void program(const Network& net) override;
  DeviceOutput forward(const Mat& x, bool taps) override;
  DeviceCounters counters() const override;
  DeviceCounters own_counters() const { return counted_; }

 private:
  pyb::function method(const char* name) const;  // the Python override (GIL held); InputError
  DeviceCounters counted_;
  mutable std::optional<Architecture> arch_;  // info().arch, read once
};

class StopCheckingDevice : public Device {
 public:
  explicit StopCheckingDevice(Device& inner) : inner_(inner) {}
  DeviceInfo info() const override { return inner_.info(); }
  void program(const Network& net) override {
    StopGuard::check();
    inner_.program(net);
  }
  DeviceOutput forward(const Mat& x, bool taps) override {
    StopGuard::check();
    return inner_.forward(x, taps);
  }
  std::vector<Mat> forward_passes(const Mat& x, int passes) override {
    StopGuard::check();
    return inner_.forward_passes(x, passes);
  }
  DeviceCounters counters() const override { return inner_.counters(); }

 private:
  Device& inner_;
};

}  // namespace gift::py

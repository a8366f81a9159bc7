#include "gift/insitu/device.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "gift/core/error.h"

namespace gift {
namespace {

void check_matrix(const Mat& m, const std::string& who, const std::string& what) {
  if (m.allFinite()) return;
  for (Eigen::Index r = 0; r < m.rows(); ++r) {
    for (Eigen::Index c = 0; c < m.cols(); ++c) {
      const float v = m(r, c);
      if (std::isfinite(v)) continue;
      throw InputError(who + ": returned " + (std::isnan(v) ? "NaN" : "inf") + " in " + what +
                       " (row " + std::to_string(r) + ", column " + std::to_string(c) +
                       "); a device's outputs must be finite");
    }
  }
}

}  // namespace

void check_device_output(const DeviceOutput& out, const std::string& who) {
  for (size_t l = 0; l < out.sums.size(); ++l) {
    check_matrix(out.sums[l], who, "the detected sum of layer " + std::to_string(l));
  }
  check_matrix(out.out, who, "the final output");
}

CheckedDevice::CheckedDevice(Device& inner) : inner_(inner) {}

std::string CheckedDevice::who() const {
  try {
    return "device '" + inner_.info().name + "'";
  } catch (const std::exception&) {
    return "the device";
  }
}

void CheckedDevice::program(const Network& net) {
  if (!net.all_finite()) {
    throw InputError(who() + ": refusing to program weights holding NaN or inf");
  }
  inner_.program(net);
  ++counted_.programmings;
}

DeviceOutput CheckedDevice::forward(const Mat& x, bool taps) {
  DeviceOutput out = inner_.forward(x, taps);
  ++counted_.forwards;
  counted_.passes += static_cast<uint64_t>(x.rows());
  const bool finite =
      out.out.allFinite() &&
      std::all_of(out.sums.begin(), out.sums.end(), [](const Mat& m) { return m.allFinite(); });
  if (!finite) check_device_output(out, who());  // who() may call into Python: only on error
  return out;
}

std::vector<Mat> CheckedDevice::forward_passes(const Mat& x, int passes) {
  std::vector<Mat> outs = inner_.forward_passes(x, passes);
  counted_.forwards += static_cast<uint64_t>(std::max(passes, 0));
  counted_.passes += static_cast<uint64_t>(x.rows()) * static_cast<uint64_t>(std::max(passes, 0));
  for (size_t p = 0; p < outs.size(); ++p) {
    if (!outs[p].allFinite()) {
      check_matrix(outs[p], who(), "the final output of pass " + std::to_string(p + 1));
    }
  }
  return outs;
}

}  // namespace gift

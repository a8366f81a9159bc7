#include "gift/insitu/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "calibration_internal.h"
#include "gift/core/error.h"

namespace gift {
namespace calibration_detail {

// Per-input sample statistics over R consecutive rows of `m` (K*R x O): means and
// unbiased variances per (input, column).
void repeat_stats(const MatD& m, int K, int R, MatD* mean, MatD* var) {
  const Eigen::Index O = m.cols();
  mean->setZero(K, O);
  if (var) var->setZero(K, O);
  for (int k = 0; k < K; ++k) {
    const auto block = m.middleRows(static_cast<Eigen::Index>(k) * R, R);
    mean->row(k) = block.colwise().mean();
    if (var) {
      var->row(k) = (block.rowwise() - mean->row(k)).array().square().colwise().sum() / (R - 1);
    }
  }
}

}  // namespace calibration_detail
namespace {

// Refuses device output holding NaN or inf: a variance fitted from it is NaN, and NaN
// estimates would read as a noiseless chip.
void check_finite(const Mat& m, const std::string& what) {
  if (!m.allFinite()) {
    throw InputError("calibration: the device returned NaN or inf in " + what +
                     "; no noise can be estimated from it");
  }
}

// Every number of the result is finite, or the fit overflowed: device outputs so large that
// their squares or products leave the range of the arithmetic.
void check_result(const Calibration& cal) {
  bool ok = std::isfinite(cal.scale.mean) && std::isfinite(cal.scale.low) &&
            std::isfinite(cal.scale.high);
  const auto fin = [](const Estimate& e) {
    return std::isfinite(e.mean) && std::isfinite(e.low) && std::isfinite(e.high);
  };
  for (const LayerCalibration& l : cal.layers) {
    ok = ok && std::isfinite(l.static_error_index) && fin(l.static_weight);
    for (const Estimate& e : l.site) ok = ok && fin(e);
  }
  if (!ok) {
    throw InputError(
        "calibration: the fit overflowed (the device's outputs are too large to be fitted); no "
        "estimate is made");
  }
}

// A std for the report: fixed point while it fits the column, else in exponent form.
std::string std_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, std::fabs(v) < 1e5 ? "%9.4f" : "%9.3g", v);
  return buf;
}

}  // namespace

void CalibrationOptions::validate() const {
  if (inputs < 2)
    throw InputError("calibration: inputs must be >= 2, found " + std::to_string(inputs));
  if (repeats < 2)
    throw InputError("calibration: repeats must be >= 2, found " + std::to_string(repeats));
  if (bootstrap < 0) throw InputError("calibration: bootstrap must be >= 0");
  if (threads < 0) throw InputError("calibration: threads must be >= 0");
  if (!(irls_floor > 0) || !std::isfinite(irls_floor))
    throw InputError("calibration: irls_floor must be a number > 0");
  if (irls_iterations < 0 || irls_iterations > 1000)
    throw InputError("calibration: irls_iterations must be in [0, 1000]");
  if (!(output_min_scale > 0) || !std::isfinite(output_min_scale))
    throw InputError("calibration: output_min_scale must be a number > 0");
  if (!(output_max_scale > output_min_scale) || !std::isfinite(output_max_scale))
    throw InputError("calibration: output_max_scale must be a number > output_min_scale");
  if (output_points_per_decade < 1 || output_points_per_decade > 1000)
    throw InputError("calibration: output_points_per_decade must be in [1, 1000]");
  for (size_t i = 0; i < sites.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (sites[i] == sites[j]) {
        throw InputError(std::string("calibration: the site ") + to_string(sites[i]) +
                         " is listed twice");
      }
    }
  }
}

bool CalibrationOptions::fits(NoiseSite s) const {
  for (NoiseSite x : sites) {
    if (x == s) return true;
  }
  return false;
}

NoiseModel Calibration::estimate() const {
  if (!per_layer) return pattern.scaled(scale.mean);
  NoiseModel m = NoiseModel::none(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    for (int s = 0; s < kNumNoiseSites; ++s)
      m.layers[l].at(static_cast<NoiseSite>(s)) = layers[l].site[s].mean;
  }
  return m;
}

NoiseModel Calibration::twin_noise() const {
  NoiseModel m = estimate();
  if (!per_layer) return m;
  for (size_t l = 0; l < layers.size(); ++l) {
    const double s = layers[l].static_weight.mean;
    m.layers[l].weight = std::sqrt(m.layers[l].weight * m.layers[l].weight + s * s);
  }
  return m;
}

NoiseModel Calibration::bound(bool upper) const {
  if (!per_layer) return pattern.scaled(upper ? scale.high : scale.low);
  NoiseModel m = NoiseModel::none(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    for (int s = 0; s < kNumNoiseSites; ++s) {
      m.layers[l].at(static_cast<NoiseSite>(s)) =
          upper ? layers[l].site[s].high : layers[l].site[s].low;
    }
  }
  return m;
}

std::string Calibration::report() const {
  std::ostringstream os;
  char buf[200];
  if (!per_layer) {
    std::snprintf(buf, sizeof buf, "output-only calibration: scale %.4g [%.4g, %.4g] of ",
                  scale.mean, scale.low, scale.high);
    os << buf << pattern.describe() << '\n';  // not in buf: a per-layer pattern can be long
  } else {
    os << "layer  site       std        95% interval          static-error index\n";
    for (size_t l = 0; l < layers.size(); ++l) {
      for (int s = 0; s < kNumNoiseSites; ++s) {
        const Estimate& e = layers[l].site[s];
        std::snprintf(
            buf, sizeof buf, "%5zu  %-9s %s  [%s, %s]  %s\n", l,
            to_string(static_cast<NoiseSite>(s)), std_text(e.mean).c_str(), std_text(e.low).c_str(),
            std_text(e.high).c_str(),
            s == 0 ? std::to_string(layers[l].static_error_index).substr(0, 6).c_str() : "");
        os << buf;
      }
      const Estimate& e = layers[l].static_weight;
      std::snprintf(buf, sizeof buf, "%5zu  %-9s %s  [%s, %s]  (fixed relative weight error)\n", l,
                    "static", std_text(e.mean).c_str(), std_text(e.low).c_str(),
                    std_text(e.high).c_str());
      os << buf;
    }
    // Notes: what the table's numbers do not say on their own.
    for (size_t l = 0; l < layers.size(); ++l) {
      for (int s = 0; s < kNumNoiseSites; ++s) {
        if (layers[l].site[s].refit_outside) {
          os << "note: layer " << l << " " << to_string(static_cast<NoiseSite>(s))
             << ": point re-fitted outside its interval (after site selection)\n";
        }
      }
      if (layers[l].static_misspecified) {
        os << "note: layer " << l
           << " static: the static moment is significantly negative; misspecification (the "
              "noise model does not fit this chip), not a clean zero\n";
      }
    }
  }
  os << "device passes: " << device_passes << '\n';
  return os.str();
}

Calibration calibrate(Device& device, const Network& net, const Mat& inputs,
                      const CalibrationOptions& o, const NoiseModel& pattern_in) {
  o.validate();
  const int K = o.inputs, R = o.repeats;
  if (inputs.rows() < K) {
    throw InputError("calibration: needs " + std::to_string(K) + " inputs, found " +
                     std::to_string(inputs.rows()));
  }
  const DeviceInfo info = device.info();
  device.program(net);
  Mat batch(static_cast<Eigen::Index>(K) * R, inputs.cols());
  for (int k = 0; k < K; ++k) {
    for (int r = 0; r < R; ++r) batch.row(static_cast<Eigen::Index>(k) * R + r) = inputs.row(k);
  }
  // The repeats are interleaved: call r sends every input once, so a drift that stays put
  // over a call (or over many consecutive samples) varies between an input's repeats instead
  // of reading as a fixed error of that input. The outputs are put back in the order
  // k * R + r that the estimators read.
  DeviceOutput dev;
  const Mat once = inputs.topRows(K);
  for (int r = 0; r < R; ++r) {
    DeviceOutput part = device.forward(once, info.taps);
    if (r == 0) {
      dev.out.resize(batch.rows(), part.out.cols());
      dev.sums.resize(part.sums.size());
      for (size_t l = 0; l < part.sums.size(); ++l) {
        dev.sums[l].resize(batch.rows(), part.sums[l].cols());
      }
    }
    if (part.sums.size() != dev.sums.size() || part.out.rows() != K ||
        part.out.cols() != dev.out.cols()) {
      throw InputError("calibration: the device's outputs changed shape between calls");
    }
    for (int k = 0; k < K; ++k) {
      const Eigen::Index row = static_cast<Eigen::Index>(k) * R + r;
      dev.out.row(row) = part.out.row(k);
      for (size_t l = 0; l < part.sums.size(); ++l) {
        if (part.sums[l].rows() != K || part.sums[l].cols() != dev.sums[l].cols()) {
          throw InputError("calibration: the device's taps changed shape between calls");
        }
        dev.sums[l].row(row) = part.sums[l].row(k);
      }
    }
  }
  for (size_t l = 0; l < dev.sums.size(); ++l) {
    check_finite(dev.sums[l], "the detected sum of layer " + std::to_string(l));
  }
  check_finite(dev.out, "the final output");
  Calibration cal;
  cal.device_passes = static_cast<uint64_t>(K) * static_cast<uint64_t>(R);  // what was sent

  if (info.taps) {
    calibration_detail::calibrate_layers(cal, net, batch, dev, o, pattern_in.output_clip);
  } else {
    calibration_detail::calibrate_output_only(cal, net, batch, dev, o, pattern_in);
  }
  check_result(cal);
  return cal;
}

}  // namespace gift

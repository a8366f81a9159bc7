// In situ noise calibration (SPEC §4.1). Sends each of K inputs R times through the
// device and fits the per-pass noise from the spread of what it detects.
//
// With taps: for layer l and each pass, the nominal input is h̃ = x (l = 0) or
// φ(z_{l-1}) from the measured sums, and the residual e = z_l - (W h̃ + b). Over the R
// repeats of one input, Var[e_i] ≈ s_a² + s_m² m_i² + s_w² Σ_j W_ij² h̃_j² + s_o'² Σ_j W_ij²,
// linear in the four variances (s_o' the output noise of layer l-1, which enters layer l's
// input; the last layer's output noise is fitted from out - z_L). A non-negative least-squares
// fit over inputs and neurons gives each layer's variances; 95% intervals come from a bootstrap
// over inputs. The mean residual over repeats reveals static errors (fabrication, quantisation).
//
// Without taps: one scale c is fitted so that the digital twin under c·pattern reproduces
// the device's output variance (pattern: the assumed noise, or unit additive sum noise).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gift/insitu/device.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"

namespace gift {

struct CalibrationOptions {
  int inputs = 100;      // K distinct inputs
  int repeats = 16;      // R passes of each
  int bootstrap = 400;   // bootstrap resamples for the intervals
  uint64_t seed = 1;     // bootstrap resampling
  int threads = 0;
  void validate() const;
};

struct Estimate {
  double value = 0, low = 0, high = 0;  // a std and its 95% interval
};

struct LayerCalibration {
  Estimate site[4];  // indexed by NoiseSite
  // Mean over (input, neuron) of ē² / (s²/R): about 1 when the residual has no
  // systematic part, larger when static errors shift the detected sums.
  double static_error_index = 0;
  Estimate static_weight;  // s_static: fixed relative weight error std, from the mean residuals
};

struct Calibration {
  bool per_layer = true;            // false: only `scale` was fitted (no taps)
  std::vector<LayerCalibration> layers;
  Estimate scale;                   // output-only: multiplier of `pattern`
  NoiseModel pattern;               // output-only: the shape that was scaled
  uint64_t device_passes = 0;       // samples sent for calibration
  NoiseModel estimate() const;      // the point estimate as a noise model
  NoiseModel twin_noise() const;    // estimate() with weight std sqrt(s_w² + s_static²)
  NoiseModel bound(bool upper) const;  // the interval's low or high ends
  std::string report() const;
  nlohmann::json to_json() const;
};

// Programs `net` on `device` and calibrates with `inputs` (N x I_0, N >= options.inputs;
// the first K rows are used). `pattern` is used only without taps (empty = unit sum_add).
Calibration calibrate(Device& device, const Network& net, const Mat& inputs,
                      const CalibrationOptions& options, const NoiseModel& pattern = {});

}  // namespace gift

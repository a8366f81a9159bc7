// In situ noise calibration (SPEC §4.1). Sends each of K inputs R times through the
// device and fits the per-pass noise from the spread of what it detects, and the chip's
// static weight error from the mean of what it detects.
//
// With taps: for layer l and each pass, the nominal input is h̃ = x (l = 0) or
// φ(z_{l-1}) from the measured sums, and the residual e = z - (W h̃ + b) (in float64).
// Given h̃, for Gaussian draws exactly,
//   Var[e_i] = a + b m_i² + (1 + b) c q_i + (1 + b)(1 + c) d Σ_j W_ij²,
//   Cov[e_i, e_j] = d (W Wᵀ)_ij   (i ≠ j),
// with a = s_a², b = s_m², c = s_w², d = s_o² of layer l-1 (layers >= 1), m = W h̃ + b and
// q = Σ_j W_ij² h̃_j². Each layer's unknowns are fitted by iteratively reweighted least
// squares to the sample variances over the R repeats (weights 1 / Var², the variance of a
// sample variance) and, for d, to the sample covariances between neurons. The last layer's
// output noise is the spread of out - z_L.
//
// Intervals (95%): from the unconstrained fit (so that a site whose true std is 0 has an
// estimate centred on 0), by a two-way jackknife over inputs and neurons (both are units
// drawn at random; a chip's fixed errors tie a neuron's residuals together across inputs),
// with Student-t quantiles; a std interval is [sqrt(max(low, 0)), sqrt(high)]. The point
// estimate keeps only the sites whose interval excludes 0 (the others are reported 0) and
// refits those with non-negative variances.
//
// Static errors: a fixed relative weight error W ⊙ (1 + δ), δ ~ N(0, s_static²), shifts the
// mean residual of neuron i on input k by Σ_j W_ij δ_ij h̄_kj, so over inputs and neurons
// E[ē² - v/R] = s_static² Σ_j W_ij² h̄_kj² (v the sample variance). s_static is estimated per
// layer from that moment, with an interval from its exact Gaussian variance; quantised
// weights are reported as the relative error that acts alike. When found, the per-pass fit
// is redone on the chip's own mean sums and without the error's share of the spread.
//
// Without taps: one scale c is fitted so that the digital twin under c·pattern reproduces
// the device's output variance (pattern: the assumed noise, or unit additive sum noise); its
// interval is a bootstrap over inputs that resamples each input's device and twin variances
// together.
//
// Deterministic for a given seed whatever the thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gift/core/stats.h"
#include "gift/insitu/device.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"

namespace gift {

struct CalibrationOptions {
  int inputs = 100;     // K distinct inputs
  int repeats = 16;     // R passes of each
  int bootstrap = 400;  // bootstrap resamples for the output-only scale's interval
  uint64_t seed = 1;    // bootstrap resampling, and the twin's draws (output-only)
  int threads = 0;
  // The per-pass sites the fit may find (taps only; the others are reported 0 with an empty
  // interval). Features that nearly coincide on a chip's inputs (a constant, the optical power,
  // the input energy) cannot all be told apart from the repeats' variances: fitting shot beside
  // sum_add costs the thermal estimate much of its precision (docs/method.md has the numbers),
  // so the default fits the sites of the first model and drift (estimated apart, from the
  // covariance between the inputs of one call); a user who expects shot, rin or weight_add
  // adds them. out_add and in_add are one observable after layer 0 (intensity noise on a
  // layer's input), reported as out_add.
  std::vector<NoiseSite> sites = {NoiseSite::kWeight, NoiseSite::kSumMult, NoiseSite::kSumAdd,
                                  NoiseSite::kOutAdd, NoiseSite::kInAdd,   NoiseSite::kDrift};
  // Taps: the per-pass variances are fitted by iteratively reweighted least squares, weights
  // from the model's variance floored at irls_floor times the mean sample variance, reweighted
  // at most irls_iterations times (fewer once the fit stops moving).
  double irls_floor = 1e-3;
  int irls_iterations = 10;
  // Without taps: the scales of the pattern searched, output_points_per_decade a decade from
  // output_min_scale, the first five decades at once, then a decade at a time until the twin's
  // output variance brackets the device's (and every bootstrap resample's), up to
  // output_max_scale; beyond it calibration refuses (InputError).
  double output_min_scale = 1e-3;
  int output_points_per_decade = 12;
  double output_max_scale = 1e5;
  bool fits(NoiseSite s) const;
  void validate() const;
};

// A std: its point estimate (`mean`) and its 95% interval as computed (over the calibration's
// repeats), an Interval (core/stats.h) with one flag more.
struct Estimate : Interval {
  Estimate() { over = Over::kRepeats; }
  // The point estimate was re-fitted (after the selection of the sites present, with
  // non-negative variances) and fell outside the interval of the unconstrained fit. The
  // interval is reported as computed, not widened to contain the point.
  bool refit_outside = false;
};

struct LayerCalibration {
  // Per-pass noise stds, indexed by NoiseSite. A site whose interval reaches 0 is reported
  // with value 0 (its interval still says how large it could be).
  Estimate site[kNumNoiseSites];
  // Mean over (input, neuron) of ē² / (s²/R): about 1 when the residual has no
  // systematic part, larger when static errors shift the detected sums.
  double static_error_index = 0;
  // s_static: the fixed relative weight error std (fabrication gain error; quantisation as
  // the relative error that acts alike), from the mean residuals. 0 unless its interval
  // excludes 0.
  Estimate static_weight;
  // The static moment Σ(ē² - v/R) came out significantly negative: below what even no static
  // error allows at 5%. No static error explains that; the noise model does not fit the chip
  // (misspecification: e.g. noise correlated between repeats, or clipping), so this is not a
  // clean "no static error" (static_weight.mean is still 0).
  bool static_misspecified = false;
};

struct Calibration {
  bool per_layer = true;  // false: only `scale` was fitted (no taps)
  std::vector<LayerCalibration> layers;
  Estimate scale;                      // output-only: multiplier of `pattern`
  NoiseModel pattern;                  // output-only: the shape that was scaled
  uint64_t device_passes = 0;          // samples sent for calibration
  NoiseModel estimate() const;         // the per-pass point estimate as a noise model
  NoiseModel bound(bool upper) const;  // the intervals' low or high ends
  // The noise a digital twin should train under: estimate() with each layer's weight std
  // replaced by sqrt(s_w² + s_static²), so that the twin is robust to the chip's frozen
  // weight error, which it cannot see (a per-pass draw of the same size stands in for it).
  // Equal to estimate() without taps.
  NoiseModel twin_noise() const;
  std::string report() const;
  // Its JSON form, calibration_to_json (insitu/report_json.h):
  // {"per_layer", "device_passes", "estimate", "low", "high", "twin_noise" (noise models),
  //  and "static_error_index": [L], "static_weight": {"value", "low", "high"}: [L] each,
  //  "static_misspecified": [L] booleans, "refit_outside": [L] lists of the site names whose
  //  re-fitted point lies outside its interval (per layer), or "scale": [value, low, high] and
  //  "pattern" (output-only)}.
};

// Programs `net` on `device` and calibrates with `inputs` (N x I_0, N >= options.inputs;
// the first K rows are used). `pattern` is used only without taps (empty = unit sum_add).
// Throws InputError on bad options, too few inputs, or device readings holding NaN or inf;
// without taps also when the device's output varies more than the twin's at
// options.output_max_scale times the pattern (the largest scale searched).
// With taps, every layer's nominal input is clipped to ±pattern.output_clip where set (the
// device's output saturation, docs/model.md).
Calibration calibrate(Device& device, const Network& net, const Mat& inputs,
                      const CalibrationOptions& options, const NoiseModel& pattern = {});

}  // namespace gift

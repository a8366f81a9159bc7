// The calibration of an output-only device: one scale of a noise pattern, matched by a twin's
// output variance on a grid of scales, with a bootstrap interval over inputs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "calibration_internal.h"
#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/insitu/simulated_device.h"

namespace gift::calibration_detail {
namespace {

using Eigen::VectorXd;

// The q-quantile of sorted samples (linear interpolation).
double quantile_sorted(const std::vector<double>& s, double q) {
  const double pos = q * static_cast<double>(s.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  const double f = pos - static_cast<double>(i);
  return i + 1 < s.size() ? s[i] * (1 - f) + s[i + 1] * f : s[i];
}

// Bootstrap index draws: resample b, draw k of K units.
std::vector<std::vector<int>> bootstrap_indices(int K, int B, uint64_t seed, uint32_t stream) {
  std::vector<std::vector<int>> out(static_cast<size_t>(B),
                                    std::vector<int>(static_cast<size_t>(K)));
  for (int b = 0; b < B; ++b) {
    const RngStream s{seed, Purpose::kSample, static_cast<uint32_t>(b), stream, 0};
    for (int k = 0; k < K; ++k) {
      out[static_cast<size_t>(b)][static_cast<size_t>(k)] =
          static_cast<int>(uniform_below(s, static_cast<uint64_t>(k), static_cast<uint32_t>(K)));
    }
  }
  return out;
}

// The scale of the grid whose twin reproduces the device's output variance `v_dev` (per input;
// summed over the inputs `idx`, a bootstrap resample, or all K when null), interpolated in the
// std (sqrt of the variance), nearly linear in the scale; NaN when the grid's largest scale
// falls short of it. curve_cols[g]: the twin's variance per input at grid[g].
double matching_scale(const std::vector<double>& grid, const std::vector<VectorXd>& curve_cols,
                      const VectorXd& v_dev, int K, const std::vector<int>* idx) {
  double target = 0;
  VectorXd curve = VectorXd::Zero(static_cast<Eigen::Index>(grid.size()));
  for (int i = 0; i < K; ++i) {
    const int k = idx ? (*idx)[static_cast<size_t>(i)] : i;
    target += v_dev[k];
    for (size_t g = 0; g < grid.size(); ++g)
      curve[static_cast<Eigen::Index>(g)] += curve_cols[g][k];
  }
  const double ts = std::sqrt(target);
  for (size_t g = 1; g < grid.size(); ++g) {
    if (curve[static_cast<Eigen::Index>(g)] >= target) {
      const double a = std::sqrt(curve[static_cast<Eigen::Index>(g - 1)]);
      const double b = std::sqrt(curve[static_cast<Eigen::Index>(g)]);
      const double f = b > a ? (ts - a) / (b - a) : 0;
      return grid[g - 1] + std::clamp(f, 0.0, 1.0) * (grid[g] - grid[g - 1]);
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

[[noreturn]] void scale_out_of_range(double max_scale) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", max_scale);
  throw InputError(std::string("calibration: the device's output varies more than the twin's at ") +
                   buf +
                   " x the noise pattern, the largest scale searched (output_max_scale); no "
                   "scale is estimated: give a pattern closer to the device's noise");
}

}  // namespace

// reproduces the device's output variance.
void calibrate_output_only(Calibration& cal, const Network& net, const Mat& batch,
                           const DeviceOutput& dev, const CalibrationOptions& o,
                           const NoiseModel& pattern_in) {
  const int K = o.inputs, R = o.repeats;
  const size_t L = net.num_layers();
  cal.per_layer = false;
  cal.pattern = pattern_in.layers.empty() || !pattern_in.any()
                    ? NoiseModel::uniform(L, NoiseSite::kSumAdd, 1.0)
                    : pattern_in;
  cal.pattern.output_clip = pattern_in.output_clip;
  MatD mean, var;
  repeat_stats(dev.out.cast<double>(), K, R, &mean, &var);
  const VectorXd v_dev = var.rowwise().mean();  // K
  // Twin variance on a grid of scales (o.output_points_per_decade a decade from
  // o.output_min_scale), with common random numbers across the grid; a decade at a time beyond
  // the first five until the curve brackets the device's variance in the data and in every
  // bootstrap resample, up to o.output_max_scale.
  const int per_decade = o.output_points_per_decade;
  const double max_scale = o.output_max_scale;
  std::vector<double> grid = {0.0};
  std::vector<VectorXd> curve_cols;  // per grid point, the twin's variance per input (K)
  const auto add_points = [&](int from, int to) {
    for (int i = from; i <= to; ++i) {
      const double s = o.output_min_scale * std::pow(10.0, i / static_cast<double>(per_decade));
      if (s > max_scale * (1 + 1e-12)) {  // the bound itself closes a grid that skips it
        if (grid.back() < max_scale * (1 - 1e-12)) grid.push_back(max_scale);
        break;
      }
      grid.push_back(s);
    }
  };
  const auto simulate = [&](size_t from) {
    for (size_t g = from; g < grid.size(); ++g) {
      SimulatedDeviceOptions so;
      so.noise = cal.pattern.scaled(grid[g]);
      so.seed = derive_seed(RngStream{o.seed, Purpose::kCalibTwin});
      so.threads = o.threads;
      SimulatedDevice twin(net.arch(), so);
      twin.program(net);
      MatD tm, tv;
      repeat_stats(twin.forward(batch, false).out.cast<double>(), K, R, &tm, &tv);
      curve_cols.push_back(tv.rowwise().mean());
    }
  };
  add_points(0, 5 * per_decade);  // five decades (1e-3 .. 1e2 by default)
  simulate(0);
  // The device and the twin ran the same inputs: an input is resampled with both of its
  // variances, whose own sampling errors (device and twin draws) it then carries.
  const auto boot = bootstrap_indices(K, o.bootstrap, o.seed, 0xCA1u);
  // The scale whose twin reproduces the (resampled) device variance; NaN when the grid's
  // largest scale falls short of it.
  const auto solve = [&](const std::vector<int>* idx) {
    return matching_scale(grid, curve_cols, v_dev, K, idx);
  };
  const auto bracketed = [&] {
    if (std::isnan(solve(nullptr))) return false;
    for (const auto& idx : boot) {
      if (std::isnan(solve(&idx))) return false;
    }
    return true;
  };
  for (int decade = 5; !bracketed(); ++decade) {
    if (grid.back() >= max_scale * (1 - 1e-12)) scale_out_of_range(max_scale);
    const size_t from = grid.size();
    add_points(per_decade * decade + 1, per_decade * (decade + 1));
    simulate(from);
  }
  std::vector<double> samples;
  for (const auto& idx : boot) samples.push_back(solve(&idx));
  cal.scale.mean = solve(nullptr);
  cal.scale.low = cal.scale.high = cal.scale.mean;
  if (!samples.empty()) {
    std::sort(samples.begin(), samples.end());
    cal.scale.low = std::min(quantile_sorted(samples, 0.025), cal.scale.mean);
    cal.scale.high = std::max(quantile_sorted(samples, 0.975), cal.scale.mean);
  }
}

}  // namespace gift::calibration_detail

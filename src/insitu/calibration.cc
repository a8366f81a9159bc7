#include "gift/insitu/calibration.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/insitu/simulated_device.h"
#include "gift/onn/forward.h"

namespace gift {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

// min |A x - b|² subject to x >= 0, for a handful of unknowns (given as normal equations
// G = AᵀA, c = Aᵀb): every active set is tried and the feasible one with the least
// residual kept. Exact, and cheap for n <= 4.
VectorXd nnls_small(const MatrixXd& G, const VectorXd& c) {
  const int n = static_cast<int>(c.size());
  VectorXd best = VectorXd::Zero(n);
  double best_obj = 0;  // objective relative to x = 0: xᵀGx - 2cᵀx
  for (int mask = 1; mask < (1 << n); ++mask) {
    std::vector<int> idx;
    for (int i = 0; i < n; ++i) {
      if (mask & (1 << i)) idx.push_back(i);
    }
    const int m = static_cast<int>(idx.size());
    MatrixXd Gs(m, m);
    VectorXd cs(m);
    for (int a = 0; a < m; ++a) {
      cs[a] = c[idx[a]];
      for (int b = 0; b < m; ++b) Gs(a, b) = G(idx[a], idx[b]);
    }
    const Eigen::LDLT<MatrixXd> ldlt(Gs);
    if (ldlt.info() != Eigen::Success) continue;
    const VectorXd xs = ldlt.solve(cs);
    if (!xs.allFinite() || (xs.array() < 0).any()) continue;
    const double obj = xs.dot(Gs * xs) - 2 * cs.dot(xs);
    if (obj < best_obj) {
      best_obj = obj;
      best.setZero();
      for (int a = 0; a < m; ++a) best[idx[a]] = xs[a];
    }
  }
  return best;
}

Estimate percentile_interval(double point, std::vector<double> samples) {
  Estimate e;
  e.value = point;
  if (samples.empty()) {
    e.low = e.high = point;
    return e;
  }
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    const double pos = q * static_cast<double>(samples.size() - 1);
    const size_t i = static_cast<size_t>(pos);
    const double f = pos - static_cast<double>(i);
    return i + 1 < samples.size() ? samples[i] * (1 - f) + samples[i + 1] * f : samples[i];
  };
  e.low = at(0.025);
  e.high = at(0.975);
  return e;
}

// Bootstrap index draws: resample b, draw k of K inputs.
std::vector<std::vector<int>> bootstrap_indices(int K, int B, uint64_t seed) {
  std::vector<std::vector<int>> out(static_cast<size_t>(B), std::vector<int>(static_cast<size_t>(K)));
  for (int b = 0; b < B; ++b) {
    const RngStream s{seed, Purpose::kSample, static_cast<uint32_t>(b), 0xCA1u, 0};
    for (int k = 0; k < K; ++k) {
      out[static_cast<size_t>(b)][static_cast<size_t>(k)] =
          static_cast<int>(uniform_below(s, static_cast<uint64_t>(k), static_cast<uint32_t>(K)));
    }
  }
  return out;
}

// Per-input sample statistics over R consecutive rows of `m` (K*R x O): means and
// unbiased variances per (input, column).
void repeat_stats(const MatD& m, int K, int R, MatD* mean, MatD* var) {
  const Eigen::Index O = m.cols();
  mean->setZero(K, O);
  var->setZero(K, O);
  for (int k = 0; k < K; ++k) {
    const auto block = m.middleRows(static_cast<Eigen::Index>(k) * R, R);
    mean->row(k) = block.colwise().mean();
    var->row(k) = (block.rowwise() - mean->row(k)).array().square().colwise().sum() / (R - 1);
  }
}

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
  bool ok = std::isfinite(cal.scale.value) && std::isfinite(cal.scale.low) &&
            std::isfinite(cal.scale.high);
  for (const LayerCalibration& l : cal.layers) {
    ok = ok && std::isfinite(l.static_error_index);
    for (const Estimate& e : l.site) {
      ok = ok && std::isfinite(e.value) && std::isfinite(e.low) && std::isfinite(e.high);
    }
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
  if (inputs < 2) throw InputError("calibration: inputs must be >= 2, found " + std::to_string(inputs));
  if (repeats < 2) throw InputError("calibration: repeats must be >= 2, found " + std::to_string(repeats));
  if (bootstrap < 0) throw InputError("calibration: bootstrap must be >= 0");
  if (threads < 0) throw InputError("calibration: threads must be >= 0");
}

NoiseModel Calibration::estimate() const {
  if (!per_layer) return pattern.scaled(scale.value);
  NoiseModel m = NoiseModel::none(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    for (int s = 0; s < kNumNoiseSites; ++s) m.layers[l].at(static_cast<NoiseSite>(s)) = layers[l].site[s].value;
  }
  return m;
}

NoiseModel Calibration::bound(bool upper) const {
  if (!per_layer) return pattern.scaled(upper ? scale.high : scale.low);
  NoiseModel m = NoiseModel::none(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    for (int s = 0; s < kNumNoiseSites; ++s) {
      m.layers[l].at(static_cast<NoiseSite>(s)) = upper ? layers[l].site[s].high : layers[l].site[s].low;
    }
  }
  return m;
}

std::string Calibration::report() const {
  std::ostringstream os;
  char buf[160];
  if (!per_layer) {
    std::snprintf(buf, sizeof buf, "output-only calibration: scale %.4g [%.4g, %.4g] of ",
                  scale.value, scale.low, scale.high);
    os << buf << pattern.describe() << '\n';  // not in buf: a per-layer pattern can be long
  } else {
    os << "layer  site       std        95% interval          static-error index\n";
    for (size_t l = 0; l < layers.size(); ++l) {
      for (int s = 0; s < kNumNoiseSites; ++s) {
        const Estimate& e = layers[l].site[s];
        std::snprintf(
            buf, sizeof buf, "%5zu  %-9s %s  [%s, %s]  %s\n", l,
            to_string(static_cast<NoiseSite>(s)), std_text(e.value).c_str(),
            std_text(e.low).c_str(), std_text(e.high).c_str(),
            s == 0 ? std::to_string(layers[l].static_error_index).substr(0, 6).c_str() : "");
        os << buf;
      }
    }
  }
  os << "device passes: " << device_passes << '\n';
  return os.str();
}

nlohmann::json Calibration::to_json() const {
  nlohmann::json j;
  j["per_layer"] = per_layer;
  j["device_passes"] = device_passes;
  j["estimate"] = noise_to_json(estimate());
  j["low"] = noise_to_json(bound(false));
  j["high"] = noise_to_json(bound(true));
  if (!per_layer) {
    j["scale"] = {scale.value, scale.low, scale.high};
    j["pattern"] = noise_to_json(pattern);
  } else {
    std::vector<double> idx;
    for (const LayerCalibration& l : layers) idx.push_back(l.static_error_index);
    j["static_error_index"] = idx;
  }
  return j;
}

Calibration calibrate(Device& device, const Network& net, const Mat& inputs,
                      const CalibrationOptions& o, const NoiseModel& pattern_in) {
  o.validate();
  const int K = o.inputs, R = o.repeats;
  if (inputs.rows() < K) {
    throw InputError("calibration: needs " + std::to_string(K) + " inputs, found " +
                     std::to_string(inputs.rows()));
  }
  const size_t L = net.num_layers();
  const DeviceInfo info = device.info();
  device.program(net);
  Mat batch(static_cast<Eigen::Index>(K) * R, inputs.cols());
  for (int k = 0; k < K; ++k) {
    for (int r = 0; r < R; ++r) batch.row(static_cast<Eigen::Index>(k) * R + r) = inputs.row(k);
  }
  const uint64_t passes_before = device.counters().passes;
  const DeviceOutput dev = device.forward(batch, info.taps);
  for (size_t l = 0; l < dev.sums.size(); ++l) {
    check_finite(dev.sums[l], "the detected sum of layer " + std::to_string(l));
  }
  check_finite(dev.out, "the final output");
  Calibration cal;
  cal.device_passes = device.counters().passes - passes_before;
  const auto boot = bootstrap_indices(K, o.bootstrap, o.seed);

  if (!info.taps) {
    cal.per_layer = false;
    cal.pattern = pattern_in.layers.empty() || !pattern_in.any()
                      ? NoiseModel::uniform(L, NoiseSite::kSumAdd, 1.0)
                      : pattern_in;
    cal.pattern.output_clip = pattern_in.output_clip;
    MatD mean, var;
    repeat_stats(dev.out.cast<double>(), K, R, &mean, &var);
    const VectorXd v_dev = var.rowwise().mean();  // K
    // Twin variance on a grid of scales, with common random numbers across the grid.
    std::vector<double> grid = {0.0};
    for (int i = 0; i <= 60; ++i) grid.push_back(1e-3 * std::pow(10.0, 5.0 * i / 60));
    MatD v_twin(K, static_cast<Eigen::Index>(grid.size()));
    for (size_t g = 0; g < grid.size(); ++g) {
      SimulatedDeviceOptions so;
      so.noise = cal.pattern.scaled(grid[g]);
      so.seed = o.seed ^ 0x7417ULL;
      so.threads = o.threads;
      SimulatedDevice twin(net.arch(), so);
      twin.program(net);
      MatD tm, tv;
      repeat_stats(twin.forward(batch, false).out.cast<double>(), K, R, &tm, &tv);
      v_twin.col(static_cast<Eigen::Index>(g)) = tv.rowwise().mean();
    }
    // The device and the twin are resampled independently: both are Monte-Carlo estimates.
    const auto boot_twin = bootstrap_indices(K, o.bootstrap, o.seed ^ 0x5EEDULL);
    auto solve = [&](const std::vector<int>* idx, const std::vector<int>* idx_twin) {
      double target = 0;
      VectorXd curve = VectorXd::Zero(static_cast<Eigen::Index>(grid.size()));
      for (int i = 0; i < K; ++i) {
        target += v_dev[idx ? (*idx)[static_cast<size_t>(i)] : i];
        curve += v_twin.row(idx_twin ? (*idx_twin)[static_cast<size_t>(i)] : i).transpose();
      }
      for (size_t g = 1; g < grid.size(); ++g) {
        if (curve[static_cast<Eigen::Index>(g)] >= target) {
          const double a = curve[static_cast<Eigen::Index>(g - 1)], b = curve[static_cast<Eigen::Index>(g)];
          const double f = b > a ? (target - a) / (b - a) : 0;
          return grid[g - 1] + std::clamp(f, 0.0, 1.0) * (grid[g] - grid[g - 1]);
        }
      }
      return grid.back();
    };
    std::vector<double> samples;
    for (size_t b = 0; b < boot.size(); ++b) samples.push_back(solve(&boot[b], &boot_twin[b]));
    cal.scale = percentile_interval(solve(nullptr, nullptr), samples);
    check_result(cal);
    return cal;
  }

  if (dev.sums.size() != L) throw InputError("calibration: device returned the wrong number of taps");
  cal.layers.resize(L);
  Mat h = batch;  // nominal input of the current layer, K*R x I
  for (size_t l = 0; l < L; ++l) {
    const auto W = net.weight(l);
    const int O = static_cast<int>(W.rows());
    const Mat& z = dev.sums[l];
    MatD m = ((h * W.transpose()).rowwise() + net.bias(l)).cast<double>();
    const Mat w_sq = W.array().square().matrix();
    const MatD q = (h.array().square().matrix() * w_sq.transpose()).cast<double>();
    const MatD e = z.cast<double>() - m;
    const VectorXd w2sum = w_sq.rowwise().sum().cast<double>();
    MatD e_mean, e_var;
    repeat_stats(e, K, R, &e_mean, &e_var);
    MatD m2 = m.array().square().matrix(), m2_mean, unused, q_mean;
    repeat_stats(m2, K, R, &m2_mean, &unused);
    repeat_stats(q, K, R, &q_mean, &unused);
    const int n = l == 0 ? 3 : 4;  // [s_a², s_m², s_w², s_o(l-1)²]
    auto features = [&](int k, int i) {
      VectorXd f(n);
      f[0] = 1;
      f[1] = m2_mean(k, i);
      f[2] = q_mean(k, i);
      if (n == 4) f[3] = w2sum[i];
      return f;
    };
    // Two passes: ordinary, then weighted by 1 / predicted variance² (the variance of a
    // sample variance is proportional to the square of the variance).
    VectorXd x = VectorXd::Zero(n);
    std::vector<MatrixXd> Gk(static_cast<size_t>(K));
    std::vector<VectorXd> ck(static_cast<size_t>(K));
    for (int pass = 0; pass < 2; ++pass) {
      MatrixXd G = MatrixXd::Zero(n, n);
      VectorXd c = VectorXd::Zero(n);
      double floor = 0;
      if (pass == 1) floor = 1e-3 * std::max(e_var.mean(), 1e-30);
      for (int k = 0; k < K; ++k) {
        MatrixXd g = MatrixXd::Zero(n, n);
        VectorXd cc = VectorXd::Zero(n);
        for (int i = 0; i < O; ++i) {
          const VectorXd f = features(k, i);
          double w = 1;
          if (pass == 1) {
            const double p = std::max(f.dot(x), floor);
            w = 1 / (p * p);
          }
          g.noalias() += w * f * f.transpose();
          cc.noalias() += w * e_var(k, i) * f;
        }
        Gk[static_cast<size_t>(k)] = g;
        ck[static_cast<size_t>(k)] = cc;
        G += g;
        c += cc;
      }
      // Scale columns so the normal equations are well conditioned.
      VectorXd d = G.diagonal().cwiseMax(1e-300).cwiseSqrt().cwiseInverse();
      x = d.asDiagonal() * nnls_small(d.asDiagonal() * G * d.asDiagonal(), d.asDiagonal() * c);
    }
    std::vector<std::vector<double>> samples(static_cast<size_t>(n));
    for (const auto& idx : boot) {
      MatrixXd G = MatrixXd::Zero(n, n);
      VectorXd c = VectorXd::Zero(n);
      for (int k : idx) {
        G += Gk[static_cast<size_t>(k)];
        c += ck[static_cast<size_t>(k)];
      }
      VectorXd d = G.diagonal().cwiseMax(1e-300).cwiseSqrt().cwiseInverse();
      const VectorXd xb = d.asDiagonal() * nnls_small(d.asDiagonal() * G * d.asDiagonal(), d.asDiagonal() * c);
      for (int j = 0; j < n; ++j) samples[static_cast<size_t>(j)].push_back(std::sqrt(std::max(xb[j], 0.0)));
    }
    auto est = [&](int j) {
      return percentile_interval(std::sqrt(std::max(x[j], 0.0)), samples[static_cast<size_t>(j)]);
    };
    LayerCalibration& lc = cal.layers[l];
    lc.site[static_cast<int>(NoiseSite::kSumAdd)] = est(0);
    lc.site[static_cast<int>(NoiseSite::kSumMult)] = est(1);
    lc.site[static_cast<int>(NoiseSite::kWeight)] = est(2);
    if (n == 4) cal.layers[l - 1].site[static_cast<int>(NoiseSite::kOutAdd)] = est(3);
    double index = 0;
    int counted = 0;
    const double tiny = 1e-10 * (1 + e_mean.cwiseAbs().maxCoeff());
    for (int k = 0; k < K; ++k) {
      for (int i = 0; i < O; ++i) {
        if (e_var(k, i) / R <= tiny * tiny) continue;  // a noiseless sum says nothing here
        index += e_mean(k, i) * e_mean(k, i) / (e_var(k, i) / R);
        ++counted;
      }
    }
    lc.static_error_index = counted ? index / counted : 0;
    // Nominal input of the next layer, from the measured sums.
    if (l + 1 < L) {
      apply_activation<float>(h, z, net.arch().activations[l]);
    }
  }
  // Output noise of the last layer: out - z_L.
  {
    MatD mean, var;
    repeat_stats((dev.out - dev.sums[L - 1]).cast<double>(), K, R, &mean, &var);
    const VectorXd per_input = var.rowwise().mean();
    std::vector<double> samples;
    for (const auto& idx : boot) {
      double s = 0;
      for (int k : idx) s += per_input[k];
      samples.push_back(std::sqrt(s / K));
    }
    cal.layers[L - 1].site[static_cast<int>(NoiseSite::kOutAdd)] =
        percentile_interval(std::sqrt(per_input.mean()), samples);
  }
  check_result(cal);
  return cal;
}

}  // namespace gift

#include "gift/insitu/calibration.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/core/stats.h"
#include "gift/insitu/simulated_device.h"
#include "gift/onn/forward.h"

namespace gift {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

// Development switches (temporary).
int dev_flag(const char* name, int dflt) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : dflt;
}

// Unknowns of one layer's variance fit, in this order: s_a², s_m², s_w², and the output
// noise s_o² of the layer before (layers >= 1 only).
constexpr int kUAdd = 0, kUMult = 1, kUWeight = 2, kUOut = 3;
constexpr NoiseSite kSiteOf[3] = {NoiseSite::kSumAdd, NoiseSite::kSumMult, NoiseSite::kWeight};

// min (x - y)ᵀ G (x - y) over x >= 0 where G y = c, i.e. min xᵀGx - 2cᵀx, for a handful of
// unknowns; only unknowns in `allowed` (a bit mask) may be non-zero. Every active set is
// tried and the feasible one with the least objective kept: exact, and cheap for n <= 4.
VectorXd nnls_small(const MatrixXd& G, const VectorXd& c, int allowed) {
  const int n = static_cast<int>(c.size());
  VectorXd best = VectorXd::Zero(n);
  double best_obj = 0;  // objective relative to x = 0: xᵀGx - 2cᵀx
  for (int mask = 1; mask < (1 << n); ++mask) {
    if ((mask & allowed) != mask) continue;
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

// Column scaling that makes G's diagonal one (zero for a column that is all zero).
VectorXd unit_scaling(const MatrixXd& G) {
  VectorXd d(G.rows());
  for (Eigen::Index i = 0; i < G.rows(); ++i) d[i] = G(i, i) > 0 ? 1 / std::sqrt(G(i, i)) : 0;
  return d;
}

// x with G x = c, least squares and of minimum norm where G is singular (an unknown that
// no observation informs stays 0).
VectorXd solve_sym(const MatrixXd& G, const VectorXd& c) {
  const VectorXd d = unit_scaling(G);
  const MatrixXd Gs = d.asDiagonal() * G * d.asDiagonal();
  const VectorXd y = Gs.completeOrthogonalDecomposition().solve(d.asDiagonal() * c);
  return d.asDiagonal() * y;
}

VectorXd nnls_scaled(const MatrixXd& G, const VectorXd& c, int allowed) {
  const VectorXd d = unit_scaling(G);
  return d.asDiagonal() *
         nnls_small(d.asDiagonal() * G * d.asDiagonal(), d.asDiagonal() * c, allowed);
}

// The q-quantile of sorted samples (linear interpolation).
double quantile_sorted(const std::vector<double>& s, double q) {
  const double pos = q * static_cast<double>(s.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  const double f = pos - static_cast<double>(i);
  return i + 1 < s.size() ? s[i] * (1 - f) + s[i + 1] * f : s[i];
}

double sqrt0(double v) { return std::sqrt(std::max(v, 0.0)); }

// Bootstrap index draws: resample b, draw k of K units.
std::vector<std::vector<int>> bootstrap_indices(int K, int B, uint64_t seed, uint32_t stream) {
  std::vector<std::vector<int>> out(static_cast<size_t>(B), std::vector<int>(static_cast<size_t>(K)));
  for (int b = 0; b < B; ++b) {
    const RngStream s{seed, Purpose::kSample, static_cast<uint32_t>(b), stream, 0};
    for (int k = 0; k < K; ++k) {
      out[static_cast<size_t>(b)][static_cast<size_t>(k)] =
          static_cast<int>(uniform_below(s, static_cast<uint64_t>(k), static_cast<uint32_t>(K)));
    }
  }
  return out;
}

// A variance v (possibly negative: an unconstrained estimate) with its 95% interval,
// reported as a std: [sqrt(max(low, 0)), sqrt(max(high, 0))].
struct VarianceInterval {
  double low = 0, high = 0;
};

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

// What one layer's fit needs, per input k and neuron i (K x O unless said otherwise).
struct LayerData {
  int K = 0, R = 0, O = 0, n = 3;
  MatD e;        // K*R x O residuals z - (W h̃ + b)
  MatD e_mean;   // mean residual over the R repeats
  MatD v;        // their sample variance
  MatD M;        // mean over repeats of m², m = W h̃ + b
  MatD Q;        // mean over repeats of q = Σ_j W_ij² h̃_j²
  MatD P;        // Σ_j W_ij² h̄_j², h̄ the mean input over repeats (static errors)
  MatD S;        // Σ_j W_ij² Var_r(h̃_j): the static error's share of v per unit s_static²
  VectorXd w2;   // O, Σ_j W_ij² (output noise of the layer before)
  MatD WWt;      // O x O, W Wᵀ (layers >= 1)
};

// The variance model of one residual and its gradient in the unknowns at `t` (>= 0):
//   Var[e] = a + b m² + (1 + b) c q + (1 + b)(1 + c) d Σ W²      (t = [a, b, c, d])
// exact for Gaussian draws given the measured input, products of the sites included.
double model(const VectorXd& t, double M, double Q, double w2, int n, double* J) {
  const double a = t[0], b = t[1], c = t[2], d = n == 4 ? t[3] : 0.0;
  J[0] = 1;
  J[1] = M + c * Q + (1 + c) * d * w2;
  J[2] = (1 + b) * (Q + d * w2);
  if (n == 4) J[3] = (1 + b) * (1 + c) * w2;
  return a + b * M + (1 + b) * c * Q + (1 + b) * (1 + c) * d * w2;
}

// Normal equations per input (the bootstrap's unit), linearised at `at` with fixed weights:
// the estimate from a set of inputs is at + (Σ G_k)⁻¹ Σ g_k.
struct Linearised {
  VectorXd at;
  std::vector<MatrixXd> G;
  std::vector<VectorXd> g;
  MatrixXd G_all;
  VectorXd g_all;
  VectorXd solve() const { return at + solve_sym(G_all, g_all); }
  VectorXd solve(const std::vector<int>& idx) const {
    MatrixXd Gs = MatrixXd::Zero(at.size(), at.size());
    VectorXd gs = VectorXd::Zero(at.size());
    for (int k : idx) {
      Gs += G[static_cast<size_t>(k)];
      gs += g[static_cast<size_t>(k)];
    }
    return at + solve_sym(Gs, gs);
  }
  // Cluster-robust (sandwich) covariance of solve(), clusters = inputs.
  MatrixXd sandwich(const VectorXd& est) const {
    const int n = static_cast<int>(at.size());
    const VectorXd step = est - at;
    MatrixXd B = MatrixXd::Zero(n, n);
    for (size_t k = 0; k < G.size(); ++k) {
      const VectorXd s = g[k] - G[k] * step;
      B.noalias() += s * s.transpose();
    }
    const double K = static_cast<double>(G.size());
    const MatrixXd Ainv = G_all.completeOrthogonalDecomposition().pseudoInverse();
    return Ainv * B * Ainv.transpose() * (K / std::max(K - 1, 1.0));
  }
};

// One layer's variance fit at fixed weights: the normal equations per input, linearised at
// `at`, from the diagonal (each neuron's variance) and, for n == 4, the off-diagonal
// covariances between neurons (only the output noise of the layer before correlates them:
// E[cov(e_i, e_j)] = s_o² (W Wᵀ)_ij).
Linearised linearise(const LayerData& D, const VectorXd& at, const VectorXd* weight_at,
                     double floor, bool offdiag, const MatD* offset, int allowed) {
  const int n = D.n, K = D.K, O = D.O, R = D.R;
  Linearised L;
  L.at = at;
  L.G.assign(static_cast<size_t>(K), MatrixXd::Zero(n, n));
  L.g.assign(static_cast<size_t>(K), VectorXd::Zero(n));
  double J[4];
  VectorXd Jv(n);
  std::vector<double> mu(static_cast<size_t>(O));
  for (int k = 0; k < K; ++k) {
    MatrixXd& G = L.G[static_cast<size_t>(k)];
    VectorXd& g = L.g[static_cast<size_t>(k)];
    for (int i = 0; i < O; ++i) {
      const double w2 = n == 4 ? D.w2[i] : 0.0;
      double Jw[4];
      const double m_at = model(at, D.M(k, i), D.Q(k, i), w2, n, J);
      double w = 1;
      if (weight_at) {
        const double m_w = model(*weight_at, D.M(k, i), D.Q(k, i), w2, n, Jw);
        mu[static_cast<size_t>(i)] = std::max(m_w, floor);
        w = 1 / (2 * mu[static_cast<size_t>(i)] * mu[static_cast<size_t>(i)]);
      }
      for (int a = 0; a < n; ++a) Jv[a] = (allowed >> a) & 1 ? J[a] : 0.0;
      const double y = D.v(k, i) - (offset ? (*offset)(k, i) : 0.0);
      G.noalias() += w * Jv * Jv.transpose();
      g.noalias() += w * (y - m_at) * Jv;
    }
    if (n == 4 && offdiag && O >= 2 && ((allowed >> kUOut) & 1)) {
      const auto block = D.e.middleRows(static_cast<Eigen::Index>(k) * R, R);
      const MatD centred = block.rowwise() - D.e_mean.row(k);
      const MatD C = centred.transpose() * centred / (R - 1);
      const double d_at = at[kUOut];
      const double d_w = weight_at ? (*weight_at)[kUOut] : 0.0;
      double gg = 0, gc = 0;
      for (int i = 0; i < O; ++i) {
        for (int j = i + 1; j < O; ++j) {
          const double p = D.WWt(i, j);
          double w = 1;
          if (weight_at) {
            w = 1 / (mu[static_cast<size_t>(i)] * mu[static_cast<size_t>(j)] + d_w * d_w * p * p);
          }
          gg += w * p * p;
          gc += w * p * (C(i, j) - d_at * p);
        }
      }
      G(kUOut, kUOut) += gg;
      g[kUOut] += gc;
    }
  }
  L.G_all = MatrixXd::Zero(n, n);
  L.g_all = VectorXd::Zero(n);
  for (int k = 0; k < K; ++k) {
    L.G_all += L.G[static_cast<size_t>(k)];
    L.g_all += L.g[static_cast<size_t>(k)];
  }
  return L;
}

// Iteratively reweighted fit (weights 1 / (2 Var²), the variance of a sample variance):
// returns the final linearisation, whose solve() is the unconstrained estimate.
Linearised fit_variances(const LayerData& D, bool offdiag, const MatD* offset, int allowed) {
  const double mean_v = std::max(D.v.mean(), 1e-300);
  const double floor = 1e-3 * mean_v;
  VectorXd t = VectorXd::Zero(D.n);
  Linearised L = linearise(D, t, nullptr, floor, offdiag, offset, allowed);
  t = L.solve();
  for (int it = 0; it < 8; ++it) {
    VectorXd at = t.cwiseMax(0.0);
    for (int j = 0; j < D.n; ++j) {
      if (!((allowed >> j) & 1)) at[j] = 0;
    }
    VectorXd wat = at;
    if (const char* wt = std::getenv("GIFT_CAL_WTRUTH")) {
      std::istringstream is(wt);
      for (int j = 0; j < D.n; ++j) {
        double x = 0;
        is >> x;
        wat[j] = x;
      }
    }
    L = linearise(D, at, &wat, floor, offdiag, offset, allowed);
    const VectorXd next = L.solve();
    const double change = (next - t).cwiseAbs().maxCoeff();
    t = next;
    if (change <= 1e-9 * std::max(t.cwiseAbs().maxCoeff(), mean_v)) break;
  }
  return L;
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
  const auto fin = [](const Estimate& e) {
    return std::isfinite(e.value) && std::isfinite(e.low) && std::isfinite(e.high);
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

Estimate make_estimate(double value_var, double low_var, double high_var) {
  Estimate e;
  e.value = sqrt0(value_var);
  e.low = std::min(sqrt0(low_var), e.value);
  e.high = std::max(sqrt0(high_var), e.value);
  return e;
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

NoiseModel Calibration::twin_noise() const {
  NoiseModel m = estimate();
  if (!per_layer) return m;
  for (size_t l = 0; l < layers.size(); ++l) {
    const double s = layers[l].static_weight.value;
    m.layers[l].weight = std::sqrt(m.layers[l].weight * m.layers[l].weight + s * s);
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
  char buf[200];
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
      const Estimate& e = layers[l].static_weight;
      std::snprintf(buf, sizeof buf, "%5zu  %-9s %s  [%s, %s]  (fixed relative weight error)\n",
                    l, "static", std_text(e.value).c_str(), std_text(e.low).c_str(),
                    std_text(e.high).c_str());
      os << buf;
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
  j["twin_noise"] = noise_to_json(twin_noise());
  if (!per_layer) {
    j["scale"] = {scale.value, scale.low, scale.high};
    j["pattern"] = noise_to_json(pattern);
  } else {
    std::vector<double> idx;
    nlohmann::json sw = {{"value", nlohmann::json::array()},
                         {"low", nlohmann::json::array()},
                         {"high", nlohmann::json::array()}};
    for (const LayerCalibration& l : layers) {
      idx.push_back(l.static_error_index);
      sw["value"].push_back(l.static_weight.value);
      sw["low"].push_back(l.static_weight.low);
      sw["high"].push_back(l.static_weight.high);
    }
    j["static_error_index"] = idx;
    j["static_weight"] = sw;
  }
  return j;
}

namespace {

// Output-only devices: one scale c of `pattern` such that the twin under c·pattern
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
  const int joint = dev_flag("GIFT_CAL_JOINT", 1);
  const auto boot = bootstrap_indices(K, o.bootstrap, o.seed, 0xCA1u);
  const auto boot_twin = bootstrap_indices(K, o.bootstrap, o.seed ^ 0x5EEDULL, 0xCA1u);
  auto solve = [&](const std::vector<int>* idx, const std::vector<int>* idx_twin) {
    double target = 0;
    VectorXd curve = VectorXd::Zero(static_cast<Eigen::Index>(grid.size()));
    for (int i = 0; i < K; ++i) {
      target += v_dev[idx ? (*idx)[static_cast<size_t>(i)] : i];
      curve += v_twin.row(idx_twin ? (*idx_twin)[static_cast<size_t>(i)] : i).transpose();
    }
    // Interpolated in the std (sqrt of the variance), nearly linear in the scale.
    const double ts = std::sqrt(target);
    for (size_t g = 1; g < grid.size(); ++g) {
      if (curve[static_cast<Eigen::Index>(g)] >= target) {
        const double a = std::sqrt(curve[static_cast<Eigen::Index>(g - 1)]);
        const double b = std::sqrt(curve[static_cast<Eigen::Index>(g)]);
        const double f = b > a ? (ts - a) / (b - a) : 0;
        return grid[g - 1] + std::clamp(f, 0.0, 1.0) * (grid[g] - grid[g - 1]);
      }
    }
    return grid.back();
  };
  std::vector<double> samples;
  for (size_t b = 0; b < boot.size(); ++b) {
    samples.push_back(solve(&boot[b], joint ? &boot[b] : &boot_twin[b]));
  }
  cal.scale.value = solve(nullptr, nullptr);
  cal.scale.low = cal.scale.high = cal.scale.value;
  if (!samples.empty()) {
    std::sort(samples.begin(), samples.end());
    cal.scale.low = std::min(quantile_sorted(samples, 0.025), cal.scale.value);
    cal.scale.high = std::max(quantile_sorted(samples, 0.975), cal.scale.value);
  }
}

}  // namespace

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

  if (!info.taps) {
    calibrate_output_only(cal, net, batch, dev, o, pattern_in);
    check_result(cal);
    return cal;
  }

  const int use_offdiag = dev_flag("GIFT_CAL_OFFDIAG", 1);
  const int interval_kind = dev_flag("GIFT_CAL_INTERVAL", 2);  // 0 bootstrap, 1 sandwich
  const int select = dev_flag("GIFT_CAL_SELECT", 1);
  const int use_static = dev_flag("GIFT_CAL_STATIC_OFFSET", 1);

  if (dev.sums.size() != L) throw InputError("calibration: device returned the wrong number of taps");
  cal.layers.resize(L);
  const auto boot = bootstrap_indices(K, o.bootstrap, o.seed, 0xCA1u);
  MatD h = batch.cast<double>();  // nominal input of the current layer, K*R x I
  for (size_t l = 0; l < L; ++l) {
    const MatD W = net.weight(l).cast<double>();
    const MatD W_sq = W.array().square().matrix();
    LayerData D;
    D.K = K;
    D.R = R;
    D.O = static_cast<int>(W.rows());
    D.n = l == 0 ? 3 : 4;
    const int O = D.O;
    MatD m = h * W.transpose();
    m.rowwise() += net.bias(l).cast<double>();
    D.e = dev.sums[l].cast<double>() - m;
    repeat_stats(D.e, K, R, &D.e_mean, &D.v);
    MatD unused;
    repeat_stats(m.array().square().matrix(), K, R, &D.M, nullptr);
    repeat_stats(MatD(h.array().square().matrix() * W_sq.transpose()), K, R, &D.Q, nullptr);
    MatD h_mean, h_var;
    repeat_stats(h, K, R, &h_mean, &h_var);
    D.P = h_mean.array().square().matrix() * W_sq.transpose();
    D.S = h_var * W_sq.transpose();
    D.w2 = W_sq.rowwise().sum();
    if (D.n == 4) D.WWt = W * W.transpose();

    // 1. Per-pass noise, first without the static errors' share.
    const int all = (1 << D.n) - 1;
    Linearised fit = fit_variances(D, use_offdiag, nullptr, all);
    VectorXd theta = fit.solve();

    MatD offset_store;
    const MatD* offset = nullptr;
    // 2. Static weight error from the mean residuals: E[ē²] = s² P + Var[e] / R.
    LayerCalibration& lc = cal.layers[l];
    {
      const VectorXd at = theta.cwiseMax(0.0);
      MatD mu(K, O);
      double J[4];
      for (int k = 0; k < K; ++k) {
        for (int i = 0; i < O; ++i) {
          mu(k, i) = std::max(model(at, D.M(k, i), D.Q(k, i), D.n == 4 ? D.w2[i] : 0.0, D.n, J),
                              1e-3 * std::max(D.v.mean(), 1e-300));
        }
      }
      double s2 = 0;
      VectorXd A(O), B(O);  // per neuron: Σ_k w y P and Σ_k w P²
      for (int it = 0; it < 4; ++it) {
        const double s2w = std::max(s2, 0.0);
        for (int i = 0; i < O; ++i) {
          double a = 0, b = 0;
          for (int k = 0; k < K; ++k) {
            const double p = D.P(k, i);
            const double var = s2w * p + mu(k, i) / R;
            const double w = 1 / (var * var);
            const double y = D.e_mean(k, i) * D.e_mean(k, i) - D.v(k, i) / R;
            a += w * y * p;
            b += w * p * p;
          }
          A[i] = a;
          B[i] = b;
        }
        s2 = B.sum() > 0 ? A.sum() / B.sum() : 0;
      }
      const auto boot_n = bootstrap_indices(O, o.bootstrap, o.seed, 0x57A7u + static_cast<uint32_t>(l));
      std::vector<double> samples;
      for (const auto& idx : boot_n) {
        double a = 0, b = 0;
        for (int i : idx) {
          a += A[i];
          b += B[i];
        }
        samples.push_back(b > 0 ? a / b : 0);
      }
      VarianceInterval iv{s2, s2};
      if (!samples.empty()) {
        std::sort(samples.begin(), samples.end());
        iv.low = quantile_sorted(samples, 0.025);
        iv.high = quantile_sorted(samples, 0.975);
      }
      lc.static_weight = make_estimate(s2, iv.low, iv.high);
      double index = 0;
      int counted = 0;
      const double tiny = 1e-10 * (1 + D.e_mean.cwiseAbs().maxCoeff());
      for (int k = 0; k < K; ++k) {
        for (int i = 0; i < O; ++i) {
          if (D.v(k, i) / R <= tiny * tiny) continue;  // a noiseless sum says nothing here
          index += D.e_mean(k, i) * D.e_mean(k, i) / (D.v(k, i) / R);
          ++counted;
        }
      }
      lc.static_error_index = counted ? index / counted : 0;
      // 3. Refit the per-pass noise without the static errors' share of the spread over
      // repeats (layers >= 1: the measured input varies between repeats).
      if (use_static && l > 0 && s2 > 0) {
        offset_store = s2 * D.S;
        offset = &offset_store;
        fit = fit_variances(D, use_offdiag, offset, all);
        theta = fit.solve();
      }
    }

    // 4. Intervals (unconstrained: a site whose true variance is 0 has an unbiased estimate
    // around 0) and the point estimate: sites whose interval excludes 0 are kept, the
    // others set to 0, and the kept ones refitted with non-negative variances.
    const int n = D.n;
    auto intervals = [&](const Linearised& f) {
      std::vector<VarianceInterval> iv(static_cast<size_t>(n), VarianceInterval{});
      const VectorXd est = f.solve();
      if (interval_kind == 0 && !boot.empty()) {
        std::vector<std::vector<double>> samples(static_cast<size_t>(n));
        for (const auto& idx : boot) {
          const VectorXd tb = f.solve(idx);
          for (int j = 0; j < n; ++j) samples[static_cast<size_t>(j)].push_back(tb[j]);
        }
        for (int j = 0; j < n; ++j) {
          auto& s = samples[static_cast<size_t>(j)];
          std::sort(s.begin(), s.end());
          iv[static_cast<size_t>(j)] = {quantile_sorted(s, 0.025), quantile_sorted(s, 0.975)};
        }
      } else if (interval_kind == 3) {
        const MatrixXd cov = f.G_all.completeOrthogonalDecomposition().pseudoInverse() / (R - 1);
        for (int j = 0; j < n; ++j) {
          const double se = std::sqrt(std::max(cov(j, j), 0.0));
          iv[static_cast<size_t>(j)] = {est[j] - 1.96 * se, est[j] + 1.96 * se};
        }
      } else if (interval_kind == 2) {
        // Jackknife over inputs.
        std::vector<VectorXd> jk;
        VectorXd mean = VectorXd::Zero(n);
        for (int k = 0; k < K; ++k) {
          const VectorXd tk = f.at + solve_sym(f.G_all - f.G[static_cast<size_t>(k)],
                                               f.g_all - f.g[static_cast<size_t>(k)]);
          jk.push_back(tk);
          mean += tk / K;
        }
        VectorXd var = VectorXd::Zero(n);
        for (const VectorXd& tk : jk) var += (tk - mean).cwiseAbs2();
        var *= static_cast<double>(K - 1) / K;
        const double t = t_quantile_975(std::max(K - 1, 1));
        for (int j = 0; j < n; ++j) {
          const double se = std::sqrt(var[j]);
          iv[static_cast<size_t>(j)] = {est[j] - t * se, est[j] + t * se};
        }
      } else {
        const MatrixXd cov = f.sandwich(est);
        const double t = t_quantile_975(std::max(K - 1, 1));
        for (int j = 0; j < n; ++j) {
          const double se = std::sqrt(std::max(cov(j, j), 0.0));
          iv[static_cast<size_t>(j)] = {est[j] - t * se, est[j] + t * se};
        }
      }
      return iv;
    };
    std::vector<VarianceInterval> iv = intervals(fit);
    if (dev_flag("GIFT_CAL_DEBUG", 0) == 2) {
      for (int j = 0; j < n; ++j) {
        std::fprintf(stderr, "FIT %zu %d %.9g %.9g %.9g\n", l, j, theta[j], iv[static_cast<size_t>(j)].low,
                     iv[static_cast<size_t>(j)].high);
      }
    }
    int allowed = 0;
    for (int j = 0; j < n; ++j) {
      if (!select || iv[static_cast<size_t>(j)].low > 0) allowed |= 1 << j;
    }
    VectorXd point = nnls_scaled(fit.G_all, fit.g_all + fit.G_all * fit.at, allowed);
    if (dev_flag("GIFT_CAL_DEBUG", 0) && l == 1) {
      std::fprintf(stderr, "l%zu allowed %d theta", l, allowed);
      for (int j = 0; j < n; ++j) std::fprintf(stderr, " %.6g", theta[j]);
      std::fprintf(stderr, " | v mean %.6g\n", D.v.mean());
    }
    if (dev_flag("GIFT_CAL_REDUCED", 0) && allowed != all && allowed != 0) {
      const Linearised reduced = fit_variances(D, use_offdiag, offset, allowed);
      const std::vector<VarianceInterval> iv_r = intervals(reduced);
      point = nnls_scaled(reduced.G_all, reduced.g_all + reduced.G_all * reduced.at, allowed);
      if (dev_flag("GIFT_CAL_DEBUG", 0) && l == 1) {
        std::fprintf(stderr, "  reduced at %.6g solve %.6g point %.6g\n", reduced.at[0], reduced.solve()[0], point[0]);
      }
      for (int j = 0; j < n; ++j) {
        if ((allowed >> j) & 1) iv[static_cast<size_t>(j)] = iv_r[static_cast<size_t>(j)];
      }
    }
    for (int j = 0; j < 3; ++j) {
      lc.site[static_cast<int>(kSiteOf[j])] =
          make_estimate(point[j], iv[static_cast<size_t>(j)].low, iv[static_cast<size_t>(j)].high);
    }
    if (n == 4) {
      cal.layers[l - 1].site[static_cast<int>(NoiseSite::kOutAdd)] =
          make_estimate(point[kUOut], iv[kUOut].low, iv[kUOut].high);
    }
    // Nominal input of the next layer, from the measured sums (φ as the device computes it).
    if (l + 1 < L) {
      Mat a;
      apply_activation<float>(a, dev.sums[l], net.arch().activations[l]);
      h = a.cast<double>();
    }
  }
  // Output noise of the last layer (linear): out - z_L.
  {
    MatD mean, var;
    repeat_stats((dev.out.cast<double>() - dev.sums[L - 1].cast<double>()), K, R, &mean, &var);
    const VectorXd per_input = var.rowwise().mean();
    const double est = per_input.mean();
    std::vector<double> samples;
    for (const auto& idx : boot) {
      double s = 0;
      for (int k : idx) s += per_input[k];
      samples.push_back(s / K);
    }
    VarianceInterval iv{est, est};
    if (dev_flag("GIFT_CAL_LASTT", 1)) {
      const double sd = std::sqrt((per_input.array() - est).square().sum() / (K - 1));
      const double half = t_quantile_975(K - 1) * sd / std::sqrt(static_cast<double>(K));
      iv = {est - half, est + half};
    } else if (!samples.empty()) {
      std::sort(samples.begin(), samples.end());
      iv = {quantile_sorted(samples, 0.025), quantile_sorted(samples, 0.975)};
    }
    cal.layers[L - 1].site[static_cast<int>(NoiseSite::kOutAdd)] = make_estimate(est, iv.low, iv.high);
  }
  check_result(cal);
  return cal;
}

}  // namespace gift

// The calibration of a device with taps (every layer's detected sums): per layer, the per-pass
// noise sites fitted to the sample variances over the repeats (calibration_variance_fit.h), a
// static weight error from the mean residuals, drift, and the last layer's output noise
// (calibration.h describes the method).
#include "calibration_variance_fit.h"
// (its own header first, through calibration_internal.h: core/matrix.h says why)

#include "gift/core/error.h"
#include "gift/core/stats.h"

namespace gift::calibration_detail {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

// The static weight error of one layer from the mean residuals. A fixed relative error
// W ⊙ (1 + δ), δ ~ N(0, s²), adds Σ_j W_ij δ_ij h̃_krj to neuron i's residual on pass r of
// input k. Its mean over the repeats shifts ē_ki by Σ_j W_ij δ_ij h̄_kj (E: s² P_ki); where
// the measured input varies between repeats (layers >= 1: the noise of the layers before)
// it also varies, and adds s² S_ki to the sample variance v_ki in expectation, hence s² S/R
// to v/R. So T_i = Σ_k (ē_ki² - v_ki/R) has mean s² Σ_k (P_ki - S_ki/R), exactly, given the
// measured inputs. Estimate: s² = Σ_i T_i / Σ_ki (P_ki - S_ki/R). (Leaving S/R out of the
// denominator biased s² low by the factor 1 - ΣS/(R ΣP) on every layer after the first.)
// Its variance, for Gaussian δ and noise, is α s⁴ + β s² + γ with (D = Σ(P - S/R))
//   α = 2 Σ_i ||B_i||_F² / D²   (B_i = diag(W_i) (H̄ᵀH̄ - Hw/R) diag(W_i): T_i's quadratic
//                                 form in δ, Hw = Σ_k Cov_r(h̃_k))
//   β = 4 Σ_ki (Var_ki / R) P_ki / D²
//   γ = 2 R/(R-1) Σ_k tr(C_k²) / D²   (C_k: the covariance over neurons of the mean noise)
// and the interval is the set of s² that the estimate does not reject at 5%.
VarianceInterval static_fit(const LayerData& D, const MatD& W_sq, const MatD& h_mean,
                            const MatD& abs_sum, const MatD& var_fit, double d_prev, double* s2_out,
                            bool* negative) {
  const int K = D.K, O = D.O, R = D.R;
  const double sumP = D.P.sum() - D.S.sum() / R;
  // float32 readings: the device's own rounding of its sums (a dot product of I terms, about
  // 2^-24 of their absolute sum per step) is fixed for a fixed input, so it reads like a
  // static error; a generous bound of its square is taken off, and counted as noise.
  const double ulp = 4.0 / 16777216.0;
  double T = 0;
  MatD f2(K, O);
  for (int k = 0; k < K; ++k) {
    for (int i = 0; i < O; ++i) {
      f2(k, i) = ulp * ulp * abs_sum(k, i) * abs_sum(k, i);
      T += D.e_mean(k, i) * D.e_mean(k, i) - D.v(k, i) / R - f2(k, i);
    }
  }
  const double s2 = sumP > 0 ? T / sumP : 0;
  *s2_out = s2;
  *negative = false;
  if (!(sumP > 0)) return {0, 0};
  const MatD Ghh = h_mean.transpose() * h_mean - D.Hw / R;  // I x I
  const MatD G2 = Ghh.array().square().matrix();
  double a = 0;
  for (int i = 0; i < O; ++i) {
    const VectorXd w = W_sq.row(i).transpose();
    a += w.dot(G2 * w);
  }
  double b = 0, c = 0;
  double offdiag2 = 0;
  if (d_prev > 0) {
    offdiag2 = (D.WWt.array().square().sum() - D.WWt.diagonal().array().square().sum()) *
               (d_prev / R) * (d_prev / R);
  }
  for (int k = 0; k < K; ++k) {
    double tr = offdiag2;
    for (int i = 0; i < O; ++i) {
      const double dk = var_fit(k, i) / R + f2(k, i);
      b += dk * D.P(k, i);
      tr += dk * dk;
    }
    c += tr;
  }
  const double alpha = 2 * a / (sumP * sumP), beta = 4 * b / (sumP * sumP),
               gamma = 2.0 * R / (R - 1) * c / (sumP * sumP);
  // The interval: the values x of s² that the estimate does not reject at 5%. Under x the
  // estimate is about x χ²_ν/ν (ν = 2/α: the fixed errors of few neurons, or of inputs that
  // share one direction, give few degrees of freedom and a skewed estimate) plus a normal
  // part of variance β x + γ (the noise), the two deviations combined in quadrature.
  const double z = 1.959963984540054;
  const double nu = alpha > 0 ? 2 / alpha : 1e12;
  const auto chi2_ratio = [&](double zp) {  // χ²_ν quantile / ν, Wilson-Hilferty
    const double q = 2 / (9 * nu);
    const double r = 1 - q + zp * std::sqrt(q);
    return r > 0 ? r * r * r : 0.0;
  };
  const double r_lo = chi2_ratio(-z), r_hi = chi2_ratio(z);
  const auto quantile = [&](double x, bool upper) {  // of the estimate under s² = x
    const double noise = std::max(beta * x + gamma, 0.0);
    const double dev = x * ((upper ? r_hi : r_lo) - 1);
    const double spread = std::sqrt(dev * dev + z * z * noise);
    return upper ? x + spread : x - spread;
  };
  // The smallest x whose upper quantile reaches the estimate, and the largest whose lower
  // quantile stays below it (both quantiles increase with x).
  const auto solve = [&](bool upper) {
    double lo = 0, hi = std::max({std::fabs(s2), std::sqrt(gamma), 1e-300});
    for (int i = 0; i < 200 && quantile(hi, upper) < s2; ++i) hi *= 2;
    for (int i = 0; i < 100; ++i) {
      const double mid = 0.5 * (lo + hi);
      (quantile(mid, upper) < s2 ? lo : hi) = mid;
    }
    return hi;
  };
  // Below what even s² = 0 allows: no static error explains it; the model is misspecified.
  *negative = quantile(0, false) > s2;
  if (*negative) return {0, 0};
  return {quantile(0, true) >= s2 ? 0.0 : solve(true), solve(false)};
}

// One layer's residuals and their statistics, from its nominal input h (K*R x I); also
// returns the input's and the nominal sum's means over the repeats.
LayerData layer_data(const Network& net, size_t l, const MatD& h, const Mat& sums, int K, int R,
                     const MatD& W, const MatD& W_sq, MatD* h_mean, MatD* m_mean) {
  LayerData D;
  D.K = K;
  D.R = R;
  D.O = static_cast<int>(W.rows());
  D.n = kUnknowns;
  // The features of onn/forward.h's sum_feature (the ones hil infers its draws under).
  const RowVecT<double> bias = net.bias(l).cast<double>();
  const RowVecT<double>* b = net.has_gain() ? nullptr : &bias;
  const auto feature = [&](NoiseSite site, MatD* mean) {
    repeat_stats(sum_feature<double>(site, h, W, b), K, R, mean, nullptr);
  };
  MatD m = h * W.transpose();
  if (b) m.rowwise() += bias;
  D.e = sums.cast<double>() - m;
  repeat_stats(D.e, K, R, &D.e_mean, &D.v);
  feature(NoiseSite::kSumMult, &D.M);
  feature(NoiseSite::kWeight, &D.Q);
  MatD h_var;
  repeat_stats(h, K, R, h_mean, &h_var);
  repeat_stats(m, K, R, m_mean, nullptr);
  D.P = h_mean->array().square().matrix() * W_sq.transpose();
  D.S = h_var * W_sq.transpose();
  {
    MatD centred = h;
    for (int k = 0; k < K; ++k) {
      centred.middleRows(static_cast<Eigen::Index>(k) * R, R).rowwise() -= h_mean->row(k);
    }
    D.Hw = centred.transpose() * centred / (R - 1);
  }
  D.w2 = W_sq.rowwise().sum();
  D.WWt = W * W.transpose();
  feature(NoiseSite::kShot, &D.Fs);
  feature(NoiseSite::kRin, &D.Fr);
  feature(NoiseSite::kWeightAdd, &D.Fh);
  return D;
}

// The mean over (input, neuron) of the squared mean residual over its variance (about 1
// without static errors); noiseless sums say nothing and are left out.
double static_error_index(const LayerData& D) {
  double index = 0;
  int counted = 0;
  const double tiny = 1e-10 * (1 + D.e_mean.cwiseAbs().maxCoeff());
  for (int k = 0; k < D.K; ++k) {
    for (int i = 0; i < D.O; ++i) {
      if (D.v(k, i) / D.R <= tiny * tiny) continue;  // a noiseless sum says nothing here
      index += D.e_mean(k, i) * D.e_mean(k, i) / (D.v(k, i) / D.R);
      ++counted;
    }
  }
  return counted ? index / counted : 0;
}

// With a static error s² found, the data of the per-pass fit on the chip's own mean sums
// (m + ē, less ē's sampling part in m²) and weights ((1 + s²) W² on average), without the
// static error's share of the spread over repeats (layers >= 1: there the measured input
// varies between repeats, and the error with it).
void account_for_static(LayerData& D, const MatD& m_mean, double s2, size_t l) {
  const double g = 1 + s2;
  for (int k = 0; k < D.K; ++k) {
    for (int i = 0; i < D.O; ++i) {
      D.M(k, i) = std::max(D.M(k, i) + 2 * m_mean(k, i) * D.e_mean(k, i) +
                               D.e_mean(k, i) * D.e_mean(k, i) - D.v(k, i) / D.R,
                           0.0);
    }
  }
  D.Q *= g;
  D.w2 *= g;
  if (l > 0) D.offset = D.offset.size() ? MatD(D.offset + s2 * D.S) : MatD(s2 * D.S);
}

// Intervals from the full model, unconstrained (a site whose true variance is 0 has an
// estimate centred on 0). Point estimate: sites whose interval excludes 0 are kept, the
// others set to 0, and the kept ones refitted with non-negative variances. Fills layer l's
// sites and the output noise of layer l - 1.
void site_estimates(Calibration& cal, size_t l, const LayerData& D, const Linearised& fit,
                    bool spread, int all, const CalibrationOptions& o) {
  const int n = D.n;
  const std::vector<VarianceInterval> iv =
      spread ? jackknife_intervals(fit) : std::vector<VarianceInterval>(static_cast<size_t>(n));
  int allowed = 0;
  for (int j = 0; j < n; ++j) {
    if (iv[static_cast<size_t>(j)].low > 0) allowed |= 1 << j;
  }
  VectorXd point = VectorXd::Zero(n);
  if (allowed) {
    const Linearised reduced = allowed == all ? fit : fit_variances(D, allowed, o);
    point = nnls_scaled(reduced.G_all, reduced.g_all + reduced.G_all * reduced.at, n, allowed);
  }
  // The interval is the unconstrained fit's, as computed; a re-fitted point outside it is
  // flagged, not hidden by widening the interval.
  auto make = [&](int j) {
    Estimate e;
    e.mean = sqrt0(point[j]);
    e.low = spread ? sqrt0(iv[static_cast<size_t>(j)].low) : 0.0;
    e.high = spread ? sqrt0(iv[static_cast<size_t>(j)].high) : 0.0;
    e.refit_outside = e.mean < e.low || e.mean > e.high;
    return e;
  };
  for (int j = 0; j < kUnknowns; ++j) {
    if (j != kUOut) cal.layers[l].site[static_cast<int>(kSiteOf[j])] = make(j);
  }
  // The noise on this layer's input intensities: the modulator's own on layer 0 (in_add); on
  // a later layer the output noise of the layer before, which this layer's in_add is
  // indistinguishable from (both are intensity noise on the same light), so reported as that.
  if (l > 0) {
    cal.layers[l - 1].site[static_cast<int>(NoiseSite::kOutAdd)] = make(kUOut);
  } else {
    cal.layers[0].site[static_cast<int>(NoiseSite::kInAdd)] = make(kUOut);
  }
}

// Drift: a relative gain error that stays put over a forward call and changes between calls.
// Calibration's repeats are interleaved (call r sends every input once), so drift is shared by
// the inputs of one call: the centred residuals ẽ_kri of two inputs k ≠ k' of one call covary
// by m_ki m_k'i s_d² (1 - 1/R), while per-sample noise does not covary. Per neuron i,
//   S_i = Σ_r [(Σ_k m_ki ẽ_kri)² - Σ_k m_ki² ẽ_kri²],  T_i = (R - 1) [(Σ_k m_ki²)² - Σ_k m_ki⁴],
// E[S_i] = s_d² T_i, so s_d² = Σ S_i / Σ T_i, with a jackknife interval over neurons (whose
// drifts are independent). Returns the estimate of s_d² and its 95% interval.
Interval drift_fit(const LayerData& D, const MatD& m_mean) {
  const int K = D.K, R = D.R, O = D.O;
  Interval out;
  out.over = Over::kRepeats;
  if (K < 2 || O < 2 || R < 2) return out;
  VectorXd S = VectorXd::Zero(O), T = VectorXd::Zero(O);
  for (int i = 0; i < O; ++i) {
    double m2 = 0, m4 = 0;
    for (int k = 0; k < K; ++k) {
      const double m = m_mean(k, i);
      m2 += m * m;
      m4 += m * m * m * m;
    }
    T[i] = (R - 1) * (m2 * m2 - m4);
    for (int r = 0; r < R; ++r) {
      double a = 0, b = 0;
      for (int k = 0; k < K; ++k) {
        const double e = D.e(static_cast<Eigen::Index>(k) * R + r, i) - D.e_mean(k, i);
        a += m_mean(k, i) * e;
        b += m_mean(k, i) * m_mean(k, i) * e * e;
      }
      S[i] += a * a - b;
    }
  }
  const double St = S.sum(), Tt = T.sum();
  if (!(Tt > 0)) return out;
  out.mean = St / Tt;
  std::vector<double> jk(static_cast<size_t>(O));
  double mean = 0;
  for (int i = 0; i < O; ++i) {
    const double t = Tt - T[i];
    jk[static_cast<size_t>(i)] = t > 0 ? (St - S[i]) / t : out.mean;
    mean += jk[static_cast<size_t>(i)] / O;
  }
  double var = 0;
  for (double x : jk) var += (x - mean) * (x - mean);
  var *= static_cast<double>(O - 1) / O;
  const double half = t_quantile_975(O - 1) * std::sqrt(var);
  out.low = out.mean - half;
  out.high = out.mean + half;
  return out;
}

// Layer l's sites and static error, from its nominal input h (K*R x I).
// The unknowns that `o` lets the fit of layer l find (a bit mask).
int allowed_unknowns(const CalibrationOptions& o, size_t l) {
  int mask = 0;
  for (int j = 0; j < kUnknowns; ++j) {
    const bool on = j == kUOut ? (l > 0 ? o.fits(NoiseSite::kOutAdd) || o.fits(NoiseSite::kInAdd)
                                        : o.fits(NoiseSite::kInAdd))
                               : o.fits(kSiteOf[j]);
    if (on) mask |= 1 << j;
  }
  return mask;
}

void calibrate_layer(Calibration& cal, const Network& net, size_t l, const MatD& h, const Mat& sums,
                     int K, int R, const CalibrationOptions& o) {
  const MatD W = net.weight(l).cast<double>();
  const MatD W_sq = W.array().square().matrix();
  MatD h_mean, m_mean;
  LayerData D = layer_data(net, l, h, sums, K, R, W, W_sq, &h_mean, &m_mean);
  const int O = D.O, all = allowed_unknowns(o, l);
  LayerCalibration& lc = cal.layers[l];

  // A sum that never varies between repeats has no per-pass noise at all (nothing to fit,
  // and the fit's weights 1 / Var² would be infinite).
  const bool spread = D.v.maxCoeff() > 0;

  // 0. Drift, from the covariance between the inputs of one call; where found, its share of
  // the repeats' variance (s_d² m²) is taken out before the per-pass fit.
  const Interval drift = spread && o.fits(NoiseSite::kDrift) ? drift_fit(D, m_mean) : Interval{};
  const bool drift_found = drift.low > 0;
  {
    Estimate& e = lc.site[static_cast<int>(NoiseSite::kDrift)];
    e.mean = drift_found ? sqrt0(drift.mean) : 0.0;
    e.low = sqrt0(drift.low);
    e.high = std::max(sqrt0(drift.high), e.mean);
  }
  MatD drift_share;
  if (drift_found) {
    drift_share = drift.mean * D.M;
    D.offset = drift_share;
  }

  // 1. Per-pass noise, as if the chip had no static errors.
  Linearised fit = spread ? fit_variances(D, all, o) : Linearised{};
  const double floor = o.irls_floor * std::max(D.v.mean(), 1e-300);

  // 2. Static weight error, from the mean residuals.
  double s2 = 0;
  MatD abs_sum = h_mean.cwiseAbs() * W.cwiseAbs().transpose();
  if (!net.has_gain()) abs_sum.rowwise() += net.bias(l).cast<double>().cwiseAbs();
  const VarianceInterval siv = static_fit(
      D, W_sq, h_mean, abs_sum, spread ? fitted_variance(D, fit, floor) : MatD::Zero(K, O),
      spread ? std::max(fit.solve()[kUOut], 0.0) : 0.0, &s2, &lc.static_misspecified);
  const bool static_found = siv.low > 0;
  lc.static_weight.mean = static_found ? sqrt0(s2) : 0.0;
  lc.static_weight.low = sqrt0(siv.low);
  lc.static_weight.high = std::max(sqrt0(siv.high), lc.static_weight.mean);
  lc.static_error_index = static_error_index(D);

  // 3. With a static error found, the per-pass fit is redone without its share.
  if (spread && static_found) {
    account_for_static(D, m_mean, s2, l);
    fit = fit_variances(D, all, o);
  }

  // 4. Intervals and point estimates.
  site_estimates(cal, l, D, fit, spread, all, o);
}

// Output noise of the last layer (linear, so out - z_L is that noise alone): the mean
// over inputs of each input's mean sample variance, with a Student-t interval over inputs.
Estimate last_output_noise(const DeviceOutput& dev, int K, int R) {
  MatD mean, var;
  repeat_stats((dev.out.cast<double>() - dev.sums.back().cast<double>()), K, R, &mean, &var);
  const VectorXd per_input = var.rowwise().mean();
  const double est = per_input.mean();
  const double sd = std::sqrt((per_input.array() - est).square().sum() / (K - 1));
  const double half = t_quantile_975(K - 1) * sd / std::sqrt(static_cast<double>(K));
  Estimate e;
  e.mean = sqrt0(est);
  e.low = sqrt0(est - half);
  e.high = sqrt0(est + half);
  return e;
}

}  // namespace

void calibrate_layers(Calibration& cal, const Network& net, const Mat& batch,
                      const DeviceOutput& dev, const CalibrationOptions& o, double output_clip) {
  const int K = o.inputs, R = o.repeats;
  const size_t L = net.num_layers();
  if (dev.sums.size() != L)
    throw InputError("calibration: device returned the wrong number of taps");
  cal.layers.resize(L);
  MatD h = batch.cast<double>();  // nominal input of the current layer, K*R x I
  for (size_t l = 0; l < L; ++l) {
    if (net.has_gain()) {
      // The physical chain's taps read z = g ⊙ u + b: the noise model is that of the optical
      // sum u = (z - b) / g (a neuron of gain 0 carries no information and reads as noiseless).
      const RowVecT<float> g = net.gain(l), b = net.bias(l);
      Mat u = dev.sums[l];
      u.rowwise() -= b;
      const MatD m = h * net.weight(l).cast<double>().transpose();
      for (Eigen::Index o = 0; o < u.cols(); ++o) {
        if (g(o) != 0) {
          u.col(o) /= g(o);
        } else {
          u.col(o) = m.col(o).cast<float>();
        }
      }
      calibrate_layer(cal, net, l, h, u, K, R, o);
    } else {
      calibrate_layer(cal, net, l, h, dev.sums[l], K, R, o);
    }
    // Nominal input of the next layer, from the measured sums (φ as the device computes it).
    if (l + 1 < L) {
      Mat a;
      apply_activation<float>(a, dev.sums[l], net.arch().activations[l]);
      if (net.has_gain()) a = a.cwiseMax(0.0f).cwiseMin(static_cast<float>(kModulatorMax));
      if (output_clip > 0) {
        const float c = static_cast<float>(output_clip);
        a = a.cwiseMax(-c).cwiseMin(c);
      }
      h = a.cast<double>();
    }
  }
  cal.layers[L - 1].site[static_cast<int>(NoiseSite::kOutAdd)] = last_output_noise(dev, K, R);
}

}  // namespace gift::calibration_detail

// The calibration of a device with taps (every layer's detected sums): per layer, a weighted
// least-squares fit of the per-pass noise sites to the sample variances over the repeats, a
// static weight error from the mean residuals, jackknife intervals, and the last layer's
// output noise (calibration.h describes the method).
// Its own header first: through core/matrix.h it includes Eigen's intrinsics under the pragma
// that silences GCC 12's AVX-512 false positives (core/matrix.h says why).
#include "calibration_internal.h"
// clang-format off
#include <Eigen/Dense>
// clang-format on
#include <algorithm>
#include <cmath>

#include "gift/core/error.h"
#include "gift/core/stats.h"
#include "gift/onn/forward.h"

namespace gift::calibration_detail {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

// Unknowns of one layer's variance fit, in this order: s_a², s_m², s_w², the noise on the
// layer's input intensities (the output noise s_o² of the layer before plus this layer's
// modulator noise s_in², one observable: layer 0 has only s_in²), s_sh² (shot), s_r² (rin),
// s_t² (weight_add). The features are onn/forward.h's sum_feature.
constexpr int kUAdd = 0, kUMult = 1, kUWeight = 2, kUOut = 3, kUShot = 4, kURin = 5, kUWAdd = 6;
constexpr int kUnknowns = 7;
constexpr NoiseSite kSiteOf[kUnknowns] = {
    NoiseSite::kSumAdd, NoiseSite::kSumMult, NoiseSite::kWeight,   NoiseSite::kOutAdd,
    NoiseSite::kShot,   NoiseSite::kRin,     NoiseSite::kWeightAdd};

using Mat4 = Eigen::Matrix<double, kUnknowns, kUnknowns>;
using Vec4 = Eigen::Matrix<double, kUnknowns, 1>;

// min xᵀGx - 2cᵀx over x >= 0 (n <= 7 unknowns); only unknowns in `allowed` (a bit mask)
// may be non-zero. Every active set is tried and the feasible one with the least objective
// kept: exact, and cheap for n <= 4.
VectorXd nnls_small(const MatrixXd& G, const VectorXd& c, int allowed) {
  const int n = static_cast<int>(c.size());
  VectorXd best = VectorXd::Zero(n);
  double best_obj = 0;  // objective relative to x = 0
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

// Column scaling that makes the leading n x n block of G unit-diagonal (zero for a column
// that no observation informs).
Vec4 unit_scaling(const Mat4& G, int n) {
  Vec4 d = Vec4::Zero();
  for (int i = 0; i < n; ++i) d[i] = G(i, i) > 0 ? 1 / std::sqrt(G(i, i)) : 0;
  return d;
}

// x (first n entries) with G x = c, least squares and of minimum norm where G is singular:
// an unknown that no observation informs stays 0.
Vec4 solve_sym(const Mat4& G, const Vec4& c, int n) {
  const Vec4 d = unit_scaling(G, n);
  const MatrixXd Gs = (d.asDiagonal() * G * d.asDiagonal()).topLeftCorner(n, n);
  const VectorXd cs = (d.asDiagonal() * c).head(n);
  VectorXd y;
  const Eigen::LDLT<MatrixXd> ldlt(Gs);
  if (ldlt.info() == Eigen::Success && ldlt.isPositive() &&
      ldlt.vectorD().minCoeff() > 1e-12 * std::max(ldlt.vectorD().maxCoeff(), 1e-300)) {
    y = ldlt.solve(cs);
  } else {
    y = Gs.completeOrthogonalDecomposition().solve(cs);
  }
  Vec4 x = Vec4::Zero();
  x.head(n) = y;
  return d.asDiagonal() * x;
}

VectorXd nnls_scaled(const Mat4& G, const Vec4& c, int n, int allowed) {
  const Vec4 d = unit_scaling(G, n);
  const Mat4 Gs = d.asDiagonal() * G * d.asDiagonal();
  const VectorXd y = nnls_small(Gs.topLeftCorner(n, n), (d.asDiagonal() * c).head(n), allowed);
  return d.head(n).asDiagonal() * y;
}

double sqrt0(double v) { return std::sqrt(std::max(v, 0.0)); }

// A variance estimate (possibly negative: unconstrained) and its 95% interval.
struct VarianceInterval {
  double low = 0, high = 0;
};

// What one layer's fit needs, per input k and neuron i (K x O unless said otherwise).
struct LayerData {
  int K = 0, R = 0, O = 0, n = 3;
  MatD e;       // K*R x O residuals z - (W h̃ + b)
  MatD e_mean;  // mean residual over the R repeats
  MatD v;       // their sample variance
  MatD M;       // mean over repeats of m², m = W h̃ + b (the device's mean sum)
  MatD Q;       // mean over repeats of q = Σ_j W_ij² h̃_j²
  MatD Fs;      // mean over repeats of P = Σ_j |W_ij| h̃_j (shot)
  MatD Fr;      // mean over repeats of (P² + m²) / 2 (rin)
  MatD Fh;      // mean over repeats of Σ_j h̃_j² (weight_add)
  MatD P;       // Σ_j W_ij² h̄_j², h̄ the mean input over repeats (static errors)
  MatD S;       // Σ_j W_ij² Var_r(h̃_j): the static error's share of v per unit s_static²
  MatD Hw;  // I x I, Σ_k Cov_r(h̃_k) (the inputs' covariance over repeats, summed over inputs)
  VectorXd w2;  // O, Σ_j W_ij² (output noise of the layer before)
  MatD WWt;     // O x O, W Wᵀ (layers >= 1)
  MatD offset;  // K x O, subtracted from v (the static error's share), or empty
};

// The features of one cell (input k, neuron i) of the variance model.
struct Cell {
  double M, Q, w2, Fs, Fr, Fh;
};
Cell cell_of(const LayerData& D, int k, int i) {
  return {D.M(k, i), D.Q(k, i), D.w2[i], D.Fs(k, i), D.Fr(k, i), D.Fh(k, i)};
}

// The variance model of one residual and its gradient in the unknowns t: onn/forward.h's
// residual_variance (the one model hil infers its draws under), whose variances are ordered
// as the unknowns here:
//   Var[e] = a + b M + (1 + b) (c Q + e Fs + f Fr + g Fh + (1 + c) d Σ W²)
// exact for Gaussian draws given the measured input, the products of the sites included.
static_assert(SumVariances::kCount == kUnknowns, "calibration's unknowns are SumVariances'");
double model(const Vec4& t, const Cell& x, double* J) {
  SumVariances v;
  v.add = t[kUAdd];
  v.mult = t[kUMult];
  v.weight = t[kUWeight];
  v.in = t[kUOut];
  v.shot = t[kUShot];
  v.rin = t[kURin];
  v.weight_add = t[kUWAdd];
  return residual_variance(v, SumFeatures{x.M, x.Q, x.w2, x.Fs, x.Fr, x.Fh}, J);
}

// One layer's normal equations, linearised at `at` with fixed weights, kept per cell
// (input k, neuron i) so that the jackknife can leave out an input, a neuron or a cell:
// the estimate from a set of cells is at + (Σ G)⁻¹ Σ g.
struct Linearised {
  int n = kUnknowns, K = 0, O = 0;
  Vec4 at = Vec4::Zero();
  std::vector<Mat4> G;  // K*O, cell k*O + i
  std::vector<Vec4> g;
  // Per cell, the other half of its covariances (only s_o² is concerned): leaving out a
  // neuron or a cell leaves out every covariance it takes part in.
  std::vector<double> pair_G, pair_g;
  Mat4 G_all = Mat4::Zero();
  Vec4 g_all = Vec4::Zero();
  Vec4 solve() const { return at + solve_sym(G_all, g_all, n); }
};

// The variance fit's observations: each neuron's sample variance (weight 1 / (2 Var²), the
// variance of a sample variance) and, for n == 4, the covariances between neurons (only the
// output noise of the layer before correlates them: E[cov(e_i, e_j)] = s_o² (W Wᵀ)_ij; weight
// 1 / (Var_i Var_j + cov²)). A covariance counts half to each of its two cells.
Linearised linearise(const LayerData& D, const Vec4& at, const Vec4* weight_at, double floor,
                     int allowed) {
  const int n = D.n, K = D.K, O = D.O, R = D.R;
  Linearised L;
  L.n = n;
  L.K = K;
  L.O = O;
  L.at = at;
  L.G.assign(static_cast<size_t>(K) * O, Mat4::Zero());
  L.g.assign(static_cast<size_t>(K) * O, Vec4::Zero());
  L.pair_G.assign(static_cast<size_t>(K) * O, 0.0);
  L.pair_g.assign(static_cast<size_t>(K) * O, 0.0);
  double J[kUnknowns], Jw[kUnknowns];
  std::vector<double> mu(static_cast<size_t>(O));
  const bool pairs = O >= 2 && ((allowed >> kUOut) & 1);
  MatD C;
  for (int k = 0; k < K; ++k) {
    for (int i = 0; i < O; ++i) {
      const Cell x = cell_of(D, k, i);
      const double m_at = model(at, x, J);
      double w = 1;
      if (weight_at) {
        mu[static_cast<size_t>(i)] = std::max(model(*weight_at, x, Jw), floor);
        w = 1 / (2 * mu[static_cast<size_t>(i)] * mu[static_cast<size_t>(i)]);
      }
      Vec4 Jv = Vec4::Zero();
      for (int a = 0; a < n; ++a) Jv[a] = (allowed >> a) & 1 ? J[a] : 0.0;
      const double y = D.v(k, i) - (D.offset.size() ? D.offset(k, i) : 0.0);
      const size_t c = static_cast<size_t>(k) * O + i;
      L.G[c].noalias() += w * Jv * Jv.transpose();
      L.g[c].noalias() += w * (y - m_at) * Jv;
    }
    if (pairs) {
      const auto block = D.e.middleRows(static_cast<Eigen::Index>(k) * R, R);
      const MatD centred = block.rowwise() - D.e_mean.row(k);
      C.noalias() = centred.transpose() * centred / (R - 1);
      const double d_at = at[kUOut];
      const double d_w = weight_at ? (*weight_at)[kUOut] : 0.0;
      for (int i = 0; i < O; ++i) {
        for (int j = i + 1; j < O; ++j) {
          const double p = D.WWt(i, j);
          const double w = weight_at
                               ? 1 / (mu[static_cast<size_t>(i)] * mu[static_cast<size_t>(j)] +
                                      d_w * d_w * p * p)
                               : 1.0;
          const double gg = 0.5 * w * p * p, gc = 0.5 * w * p * (C(i, j) - d_at * p);
          for (int cell : {i, j}) {
            const size_t c = static_cast<size_t>(k) * O + cell;
            L.G[c](kUOut, kUOut) += gg;
            L.g[c][kUOut] += gc;
            L.pair_G[c] += gg;
            L.pair_g[c] += gc;
          }
        }
      }
    }
  }
  for (size_t c = 0; c < L.G.size(); ++c) {
    L.G_all += L.G[c];
    L.g_all += L.g[c];
  }
  return L;
}

// Iteratively reweighted fit: returns the final linearisation, whose solve() is the
// unconstrained estimate (unknowns outside `allowed` held at 0).
Linearised fit_variances(const LayerData& D, int allowed) {
  const double mean_v = std::max(D.v.mean(), 1e-300);
  const double floor = 1e-3 * mean_v;
  Vec4 t = Vec4::Zero();
  Linearised L = linearise(D, t, nullptr, floor, allowed);
  t = L.solve();
  for (int it = 0; it < 10; ++it) {
    Vec4 at = t.cwiseMax(0.0);
    for (int j = 0; j < kUnknowns; ++j) {
      if (!((allowed >> j) & 1)) at[j] = 0;
    }
    L = linearise(D, at, &at, floor, allowed);
    const Vec4 next = L.solve();
    const double change = (next - t).cwiseAbs().maxCoeff();
    t = next;
    if (change <= 1e-10 * std::max(t.cwiseAbs().maxCoeff(), mean_v)) break;
  }
  return L;
}

// 95% intervals of the unconstrained estimate by a two-way jackknife: inputs and neurons
// are both units drawn at random (a chip's fixed errors make a neuron's residuals share a
// part across inputs; the output noise of the layer before, an input's across neurons).
// Variance V = V_inputs + max(V_neurons - V_cells, 0) (Cameron, Gelbach and Miller's
// two-way form), with Student-t quantiles at Satterthwaite's degrees of freedom.
std::vector<VarianceInterval> jackknife_intervals(const Linearised& L) {
  const int n = L.n, K = L.K, O = L.O;
  const Vec4 est = L.solve();
  auto jk_var = [&](const std::vector<Mat4>& Gs, const std::vector<Vec4>& gs) {
    const size_t m = Gs.size();
    std::vector<Vec4> t(m);
    Vec4 mean = Vec4::Zero();
    for (size_t u = 0; u < m; ++u) {
      t[u] = L.at + solve_sym(L.G_all - Gs[u], L.g_all - gs[u], n);
      mean += t[u] / static_cast<double>(m);
    }
    Vec4 var = Vec4::Zero();
    for (size_t u = 0; u < m; ++u) var += (t[u] - mean).cwiseAbs2();
    return Vec4(var * (static_cast<double>(m) - 1) / static_cast<double>(m));
  };
  std::vector<Mat4> Gk(static_cast<size_t>(K), Mat4::Zero()),
      Gi(static_cast<size_t>(O), Mat4::Zero());
  std::vector<Vec4> gk(static_cast<size_t>(K), Vec4::Zero()),
      gi(static_cast<size_t>(O), Vec4::Zero());
  for (int k = 0; k < K; ++k) {
    for (int i = 0; i < O; ++i) {
      const size_t c = static_cast<size_t>(k) * O + i;
      Gk[static_cast<size_t>(k)] += L.G[c];
      gk[static_cast<size_t>(k)] += L.g[c];
      Gi[static_cast<size_t>(i)] += L.G[c];
      gi[static_cast<size_t>(i)] += L.g[c];
    }
  }
  const Vec4 v_in = jk_var(Gk, gk);
  Vec4 v_extra = Vec4::Zero();
  if (O >= 2) {
    std::vector<Mat4> Gc = L.G;
    std::vector<Vec4> gc = L.g;
    for (size_t c = 0; c < Gc.size(); ++c) {
      Gc[c](kUOut, kUOut) += L.pair_G[c];
      gc[c][kUOut] += L.pair_g[c];
      const size_t i = c % static_cast<size_t>(O);
      Gi[i](kUOut, kUOut) += L.pair_G[c];
      gi[i][kUOut] += L.pair_g[c];
    }
    v_extra = (jk_var(Gi, gi) - jk_var(Gc, gc)).cwiseMax(0.0);
  }
  std::vector<VarianceInterval> iv(static_cast<size_t>(n));
  for (int j = 0; j < n; ++j) {
    const double v = v_in[j] + v_extra[j];
    // Satterthwaite: df = V² / (V_in² / (K - 1) + V_extra² / (O - 1)).
    double df = K - 1;
    const double den =
        v_in[j] * v_in[j] / (K - 1) + (O >= 2 ? v_extra[j] * v_extra[j] / (O - 1) : 0.0);
    if (den > 0 && std::isfinite(v * v / den)) {
      df = std::clamp(v * v / den, 1.0, static_cast<double>(K - 1));
    }
    const double half = t_quantile_975(static_cast<int>(std::floor(df))) * std::sqrt(v);
    iv[static_cast<size_t>(j)] = {est[j] - half, est[j] + half};
  }
  return iv;
}

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

// The per-pass variance of every residual under the fit (non-negative variances), floored.
MatD fitted_variance(const LayerData& D, const Linearised& f, double floor) {
  const Vec4 at = f.solve().cwiseMax(0.0);
  MatD mu(D.K, D.O);
  double J[kUnknowns];
  for (int k = 0; k < D.K; ++k) {
    for (int i = 0; i < D.O; ++i) {
      mu(k, i) = std::max(model(at, cell_of(D, k, i), J), floor);
    }
  }
  return mu;
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
                    bool spread, int all) {
  const int n = D.n;
  const std::vector<VarianceInterval> iv =
      spread ? jackknife_intervals(fit) : std::vector<VarianceInterval>(static_cast<size_t>(n));
  int allowed = 0;
  for (int j = 0; j < n; ++j) {
    if (iv[static_cast<size_t>(j)].low > 0) allowed |= 1 << j;
  }
  VectorXd point = VectorXd::Zero(n);
  if (allowed) {
    const Linearised reduced = allowed == all ? fit : fit_variances(D, allowed);
    point = nnls_scaled(reduced.G_all, reduced.g_all + reduced.G_all * reduced.at, n, allowed);
  }
  // The interval is the unconstrained fit's, as computed; a re-fitted point outside it is
  // flagged, not hidden by widening the interval.
  auto make = [&](int j) {
    Estimate e;
    e.value = sqrt0(point[j]);
    e.low = spread ? sqrt0(iv[static_cast<size_t>(j)].low) : 0.0;
    e.high = spread ? sqrt0(iv[static_cast<size_t>(j)].high) : 0.0;
    e.refit_outside = e.value < e.low || e.value > e.high;
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
struct DriftEstimate {
  double value = 0, low = 0, high = 0;
};

DriftEstimate drift_fit(const LayerData& D, const MatD& m_mean) {
  const int K = D.K, R = D.R, O = D.O;
  DriftEstimate out;
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
  out.value = St / Tt;
  std::vector<double> jk(static_cast<size_t>(O));
  double mean = 0;
  for (int i = 0; i < O; ++i) {
    const double t = Tt - T[i];
    jk[static_cast<size_t>(i)] = t > 0 ? (St - S[i]) / t : out.value;
    mean += jk[static_cast<size_t>(i)] / O;
  }
  double var = 0;
  for (double x : jk) var += (x - mean) * (x - mean);
  var *= static_cast<double>(O - 1) / O;
  const double half = t_quantile_975(O - 1) * std::sqrt(var);
  out.low = out.value - half;
  out.high = out.value + half;
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
  const DriftEstimate drift =
      spread && o.fits(NoiseSite::kDrift) ? drift_fit(D, m_mean) : DriftEstimate{};
  const bool drift_found = drift.low > 0;
  {
    Estimate& e = lc.site[static_cast<int>(NoiseSite::kDrift)];
    e.value = drift_found ? sqrt0(drift.value) : 0.0;
    e.low = sqrt0(drift.low);
    e.high = std::max(sqrt0(drift.high), e.value);
  }
  MatD drift_share;
  if (drift_found) {
    drift_share = drift.value * D.M;
    D.offset = drift_share;
  }

  // 1. Per-pass noise, as if the chip had no static errors.
  Linearised fit = spread ? fit_variances(D, all) : Linearised{};
  const double floor = 1e-3 * std::max(D.v.mean(), 1e-300);

  // 2. Static weight error, from the mean residuals.
  double s2 = 0;
  MatD abs_sum = h_mean.cwiseAbs() * W.cwiseAbs().transpose();
  if (!net.has_gain()) abs_sum.rowwise() += net.bias(l).cast<double>().cwiseAbs();
  const VarianceInterval siv = static_fit(
      D, W_sq, h_mean, abs_sum, spread ? fitted_variance(D, fit, floor) : MatD::Zero(K, O),
      spread ? std::max(fit.solve()[kUOut], 0.0) : 0.0, &s2, &lc.static_misspecified);
  const bool static_found = siv.low > 0;
  lc.static_weight.value = static_found ? sqrt0(s2) : 0.0;
  lc.static_weight.low = sqrt0(siv.low);
  lc.static_weight.high = std::max(sqrt0(siv.high), lc.static_weight.value);
  lc.static_error_index = static_error_index(D);

  // 3. With a static error found, the per-pass fit is redone without its share.
  if (spread && static_found) {
    account_for_static(D, m_mean, s2, l);
    fit = fit_variances(D, all);
  }

  // 4. Intervals and point estimates.
  site_estimates(cal, l, D, fit, spread, all);
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
  e.value = sqrt0(est);
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

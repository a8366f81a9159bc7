// The per-pass variance fit of a device with taps (calibration_variance_fit.h says what it is).
#include "calibration_variance_fit.h"

#include "gift/core/stats.h"

namespace gift::calibration_detail {

using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {

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

}  // namespace

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
Linearised fit_variances(const LayerData& D, int allowed, const CalibrationOptions& o) {
  const double mean_v = std::max(D.v.mean(), 1e-300);
  const double floor = o.irls_floor * mean_v;
  Vec4 t = Vec4::Zero();
  Linearised L = linearise(D, t, nullptr, floor, allowed);
  t = L.solve();
  for (int it = 0; it < o.irls_iterations; ++it) {
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

}  // namespace gift::calibration_detail

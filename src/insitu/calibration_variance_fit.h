// Internal to src/insitu: the per-pass variance fit of a device with taps (one layer at a
// time): its unknowns, the data it reads, the linearised normal equations, the iteratively
// reweighted least-squares fit (CalibrationOptions' irls_floor and irls_iterations) and its
// two-way jackknife intervals. calibration_layers.cc drives it; calibration.h describes it.
#pragma once

// calibration_internal.h first: through core/matrix.h it includes Eigen's intrinsics under the
// pragma that silences GCC 12's AVX-512 false positives (core/matrix.h says why).
#include "calibration_internal.h"
// clang-format off
#include <Eigen/Dense>
// clang-format on
#include <algorithm>
#include <cmath>
#include <vector>

#include "gift/onn/forward.h"

namespace gift::calibration_detail {

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

inline double sqrt0(double v) { return std::sqrt(std::max(v, 0.0)); }

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
  Eigen::VectorXd w2;  // O, Σ_j W_ij² (output noise of the layer before)
  MatD WWt;            // O x O, W Wᵀ (layers >= 1)
  MatD offset;         // K x O, subtracted from v (the static error's share), or empty
};

// The features of one cell (input k, neuron i) of the variance model.
struct Cell {
  double M, Q, w2, Fs, Fr, Fh;
};
inline Cell cell_of(const LayerData& D, int k, int i) {
  return {D.M(k, i), D.Q(k, i), D.w2[i], D.Fs(k, i), D.Fr(k, i), D.Fh(k, i)};
}

// x (first n entries) with G x = c, least squares and of minimum norm where G is singular:
// an unknown that no observation informs stays 0.
Vec4 solve_sym(const Mat4& G, const Vec4& c, int n);

// min xᵀGx - 2cᵀx over x >= 0 on the first n unknowns, only those in `allowed` (a bit mask)
// non-zero, exactly (every active set tried), in the columns' unit scaling.
Eigen::VectorXd nnls_scaled(const Mat4& G, const Vec4& c, int n, int allowed);

// The variance model of one residual (onn/forward.h's residual_variance, its variances ordered
// as the unknowns) and its gradient J in the unknowns t.
double model(const Vec4& t, const Cell& x, double* J);

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

// The normal equations linearised at `at`, weighted at *weight_at (unweighted when null; the
// model's variances floored at `floor`).
Linearised linearise(const LayerData& D, const Vec4& at, const Vec4* weight_at, double floor,
                     int allowed);

// Iteratively reweighted fit: returns the final linearisation, whose solve() is the
// unconstrained estimate (unknowns outside `allowed` held at 0); o.irls_floor times the mean
// sample variance floors the weights' variances, at most o.irls_iterations reweightings.
Linearised fit_variances(const LayerData& D, int allowed, const CalibrationOptions& o);

// 95% intervals of the unconstrained estimate (two-way jackknife over inputs and neurons).
std::vector<VarianceInterval> jackknife_intervals(const Linearised& L);

// The per-pass variance of every residual under the fit (non-negative variances), floored.
MatD fitted_variance(const LayerData& D, const Linearised& f, double floor);

}  // namespace gift::calibration_detail

// The hot paths: the noisy dense forward and backward of a whole network for one
// batch of rows (B x I), recording on a Tape what backward needs (STYLE.md 4).
// These few functions are what a faster kernel would replace; callers never touch
// their insides.
//
// Per layer (SPEC §2; every sample a row):
//   m  = h Wᵀ + b                                       B x O
//   sd = s_w sqrt((h⊙h)(W⊙W)ᵀ)    (local reparameterisation of W⊙(1+s_w ξ_w))
//   u  = m + sd ⊙ ξ_w
//   z  = u ⊙ (1 + s_m ξ_m) + s_a ξ_a
//   a  = clip(φ(z) + s_o ξ_o, ±output_clip)               → input of the next layer
// Gradients treat the draws ξ as fixed; d sd/dq is taken as 0 where q = 0.
#pragma once

#include <cstdint>
#include <vector>

#include "gift/core/matrix.h"
#include "gift/core/rng.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"

namespace gift {

// Where a forward call's draws come from: stream (seed, purpose, a = call, b = sample id,
// c = noise_stream_word(layer, stream_id of the site)), i.e. c = layer * 4 + id for the
// four original sites (ids 0..3, fixed in noise_sites()) and a disjoint range for any later
// site, so adding a site never changes existing draws. Row r of a batch is sample
// `first_sample + r`, so the draws of a sample never depend on how a batch is split across
// threads. `call` numbers the forward calls of one purpose (a training step, a Monte-Carlo
// repeat of an evaluation), not passes: in gift a pass is one sample through the chip.
struct NoiseDraws {
  uint64_t seed = 0;
  Purpose purpose = Purpose::kTrainNoise;
  uint32_t call = 0;
  uint64_t first_sample = 0;
};

// The additive sites whose std depends on the signal (local reparameterisation), in the order
// of LayerTape::sdn: shot, rin, weight_add. (in_add is drawn exactly, per input: B x I.)
constexpr int kNumSignalSites = 3;
constexpr NoiseSite kSignalSites[kNumSignalSites] = {NoiseSite::kShot, NoiseSite::kRin,
                                                     NoiseSite::kWeightAdd};

// Per-step products of the weights that noise sites need, computed once and shared by the row
// blocks that run forward and backward with the same weights (weight_stats).
template <class T>
struct WeightStats {
  std::vector<MatT<T>> sq;   // W⊙W (weight noise; else empty)
  std::vector<MatT<T>> abs;  // |W| (shot or rin; else empty)
};

template <class T>
struct LayerTape {
  MatT<T> xi[kNumNoiseSites];    // B x O draws of the active sites by site_index (others empty;
                                 // in_add's are B x I, one per input intensity)
  MatT<T> x_in;                  // B x I, the input with modulator noise (in_add only)
  MatT<T> w_sq;                  // O x I, W⊙W (weight noise only, when not shared)
  MatT<T> w_abs;                 // O x I, |W| (shot or rin, when not shared)
  MatT<T> x_sq;                  // B x I, input squared (weight noise only)
  MatT<T> sd;                    // B x O, s_w sqrt(q) (weight noise only)
  MatT<T> sdn[kNumSignalSites];  // B x O, std of shot, rin, weight_add (active only)
  MatT<T> p;                     // B x O, P = h |W|ᵀ (shot or rin)
  MatT<T> m;                     // B x O, h Wᵀ without bias (rin only)
  VecT<T> h2;                    // B, Σ_j h_j² (weight_add only)
  MatT<T> u;                     // B x O, the noisy sum before gain and bias (physical chain)
  MatT<T> z;                     // B x O, detected sum (after gain and bias: what taps return)
  MatT<T> a;                     // B x O, layer output
  MatT<T> du;                    // B x O, backward: dloss/du (u before the noise that multiplies)
  MatT<T> dq;                    // B x O, backward: dloss/dq (weight noise only)
  MatT<T> dz;                    // B x O, backward: dloss/dz (physical chain)
  MatT<T> dp;                    // B x O, backward: dloss/dP (shot or rin)
};

template <class T>
struct Tape {
  MatT<T> x;  // B x I_0, the batch
  std::vector<LayerTape<T>> layers;
  MatT<T> da, g;  // backward's scratch, kept to reuse its memory
  const MatT<T>& logits() const { return layers.back().a; }
  // Input of layer l as its detectors saw it: the batch for l = 0, else the previous layer's
  // output, with the modulator's noise where in_add is on (layers[l].x_in).
  const MatT<T>& input(size_t l) const {
    if (layers[l].x_in.size()) return layers[l].x_in;
    return l == 0 ? x : layers[l - 1].a;
  }
};

// a = φ(z), elementwise (B x O).
template <class T>
void apply_activation(MatT<T>& a, const MatT<T>& z, Activation act);

// The WeightStats of `net` that `noise` needs (every layer, empty where a site is off).
template <class T>
void weight_stats(WeightStats<T>& ws, const NetworkT<T>& net, const NoiseModel& noise);

// Runs `x` (B x I_0) through `net` under `noise` (validated by the caller). With
// `draws` null, the caller has already sized and filled tape.layers[l].xi[site]
// (B x O_l) for every site whose std is non-zero on layer l (tests, golden fixtures; drift's
// rows all equal within a call). `ws` (from weight_stats, or null to compute them into the
// tape) must stay alive and unchanged until network_backward of this tape has run.
template <class T>
void network_forward(Tape<T>& tape, const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x,
                     const NoiseModel& noise, const NoiseDraws* draws,
                     const WeightStats<T>* ws = nullptr);

// Layer 0's noiseless part for a fixed batch and weights: m = x W_0ᵀ (+ b_0, legacy) (B x O_0)
// and what the signal-dependent sites need (sd, P, m, Σh²). It is the same in every Monte-Carlo
// pass over that batch, so passes compute it once (first_layer) and start from it
// (network_forward_from), with the same result, bit for bit, as network_forward on the batch.
template <class T>
struct FirstLayer {
  MatT<T> z, sd, p, m;
  VecT<T> h2;
  MatT<T> x;  // the batch, kept only under in_add on layer 0 (then every pass starts from it)
};

template <class T>
void first_layer(FirstLayer<T>& first, const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x,
                 const NoiseModel& noise, const WeightStats<T>* ws = nullptr);

// network_forward of the batch that `first` was computed on, for inference only: the tape
// holds no batch (tape.x is empty), so network_backward must not be called on it.
template <class T>
void network_forward_from(Tape<T>& tape, const NetworkT<T>& net, const FirstLayer<T>& first,
                          const NoiseModel& noise, const NoiseDraws& draws,
                          const WeightStats<T>* ws = nullptr);

// The variance model of a detected sum, the one that calibration fits and hardware in the loop
// infers its draws under: given a layer's input h (B x I) and weights W (O x I), per residual
// (optical units: before the gain g) the features
//   F_weight = Q = (h⊙h)(W⊙W)ᵀ, F_sum_mult = F_drift = M = m², F_sum_add = 1, F_shot = P,
//   F_rin = (P² + m²) / 2, F_weight_add = Σ_j h_j², F_in_add = F_out_add = Σ_j W_ij²
// (out_add: the previous layer's output noise, entering through this input), with m = h Wᵀ
// (+ b in the legacy chain, `bias` non-null) and P = h |W|ᵀ.
template <class T>
MatT<T> sum_feature(NoiseSite site, const MatT<T>& h, const Eigen::Ref<const MatT<T>>& W,
                    const RowVecT<T>* bias);

// The variances (s², not stds) of the sites that reach one residual, in the order of the
// gradient residual_variance returns: sum_add, the multiplicative sites (sum_mult and drift
// together: (1 + s_m²)(1 + s_d²) - 1), weight (per-pass weight noise, plus the static weight
// error where it is counted as variance), the noise on the input intensities (this layer's
// in_add plus the previous layer's out_add), shot, rin, weight_add.
struct SumVariances {
  static constexpr int kCount = 7;
  double add = 0, mult = 0, weight = 0, in = 0, shot = 0, rin = 0, weight_add = 0;
};
// One residual's features (sum_feature of the sites above; in: Σ_j W_ij²).
struct SumFeatures {
  double M = 0, Q = 0, w2 = 0, P = 0, Fr = 0, Fh = 0;
};
// THE residual-variance model, shared by calibration (which fits it) and hardware in the loop
// (which infers its draws under it): exact for Gaussian draws given the measured input, the
// products of the sites included (the sites that add to the optical sum are multiplied by the
// multiplicative ones, the input noise by the weight noise):
//   Var[e] = add + mult M + (1 + mult) (weight Q + shot P + rin Fr + weight_add Fh
//                                       + (1 + weight) in Σ_j W_ij²).
// J (kCount entries, null for none): its gradient in the variances, in SumVariances' order.
double residual_variance(const SumVariances& v, const SumFeatures& f, double* J = nullptr);
// The SumVariances of layer noise `n` with the previous layer's output noise std
// `prev_out_add` (0 on layer 0) and a static relative weight error of std `static_weight`
// counted as variance of the weight term.
SumVariances sum_variances(const LayerNoise& n, double prev_out_add, double static_weight = 0);
// residual_variance of every residual (B x O) under `v`.
template <class T>
MatT<T> sum_variance(const MatT<T>& h, const Eigen::Ref<const MatT<T>>& W, const RowVecT<T>* bias,
                     const SumVariances& v);
// sum_variance under sum_variances(n, prev_out_add).
template <class T>
MatT<T> sum_variance(const MatT<T>& h, const Eigen::Ref<const MatT<T>>& W, const RowVecT<T>* bias,
                     const LayerNoise& n, double prev_out_add);

// The tape of a pass measured on a device (hardware in the loop): the batch `x`, every
// layer's detected sums `sums[l]` (B x O_l) and the final output `out` (B x O_L, taken as
// the logits). Layer inputs are φ of the measured sums (clamped to [0, 1] in the physical
// chain, and to ±noise.output_clip where set: what the next layer's modulator receives). The
// draws that backward needs under `noise` (the calibrated per-pass estimate) are not observed;
// each is set to its conditional mean given the measured residual e (z - (g ⊙ h Wᵀ + b),
// divided by g in the physical chain), under the linearisation
//   e ≈ o + Σ_k c_k ξ_k,  Var[e] = sum_variance(...)   (the calibration's model),
// so E[ξ_k | e] = c_k e / Var[e] with c_k = sd_k for the additive sites and m s_m, m s_d for
// the multiplicative ones. `static_weight` (per layer, empty = none) is the std of the chip's
// fixed relative weight error: its share o = Σ_j W_ij δ_ij h_j of the residual is a fixed
// offset, not a draw: it enters Var[e] (so it is not explained as per-pass noise) and stays in
// the tape's sums, but no draw and no noise gradient stands for it. With one per-pass site
// active and no static error this recovers the draw exactly (e.g. 1 + s_m ξ_m = z / m); a clean
// backward instead drops the noise-induced part of the gradient.
template <class T>
void tape_from_measurement(Tape<T>& tape, const NetworkT<T>& net, const MatT<T>& x,
                           const std::vector<MatT<T>>& sums, const MatT<T>& out,
                           const NoiseModel& noise, const std::vector<double>& static_weight = {});

// Backpropagates `dlogits` (B x O_L) through the recorded tape: fills du and dq of
// every layer (and dz, dp where used), and dx (B x I_0) if non-null. `ws` as given to
// network_forward.
template <class T>
void network_backward(Tape<T>& tape, const NetworkT<T>& net, const NoiseModel& noise,
                      const MatT<T>& dlogits, MatT<T>* dx, const WeightStats<T>* ws = nullptr);

// What layer_grad needs besides du and the input, as network_backward leaves them in the tape
// (B x O_l each; null where the chain or the sites do not use them).
template <class T>
struct LayerGradExtras {
  const MatT<T>* dq = nullptr;    // weight noise
  const MatT<T>* x_sq = nullptr;  // weight noise: the input squared (B x I_l)
  const MatT<T>* dz = nullptr;    // physical chain
  const MatT<T>* u = nullptr;     // physical chain
  const MatT<T>* dp = nullptr;    // shot or rin
};

// Adds to `grad` (laid out like net.params()) the gradient of layer `l` rows [o_begin,
// o_end) of W, b and (physical chain) g from one batch: du (B x O_l) as network_backward
// leaves it, `input` the layer's input (B x I_l) and the extras. One product over all B rows,
// so a batch stacked from row blocks gives the same sum whatever the thread count.
template <class T>
void layer_grad(VecT<T>& grad, const NetworkT<T>& net, const NoiseModel& noise, size_t l,
                int o_begin, int o_end, const Eigen::Ref<const MatT<T>>& du,
                const Eigen::Ref<const MatT<T>>& input, const LayerGradExtras<T>& extras);

// layer_grad of each of `tapes` in order (hardware in the loop, tests). Deterministic for a
// fixed list of tapes; disjoint row ranges may run in parallel.
template <class T>
void accumulate_layer_grad(VecT<T>& grad, const NetworkT<T>& net, const NoiseModel& noise,
                           const std::vector<const Tape<T>*>& tapes, size_t l, int o_begin,
                           int o_end);

// Hardware in the loop: grad (laid out like net.params(), overwritten) = the gradient, in
// every layer's W and b, of a loss whose gradient in the logits is `dlogits` (B x O_L),
// backpropagated through the pass measured on a device (x, sums, out as for
// tape_from_measurement, the draws inferred under `noise` and `static_weight`). The same arithmetic
// as tape_from_measurement, network_backward and accumulate_layer_grad of every layer in turn.
template <class T>
void measured_gradient(VecT<T>& grad, const NetworkT<T>& net, const MatT<T>& x,
                       const std::vector<MatT<T>>& sums, const MatT<T>& out,
                       const NoiseModel& noise, const MatT<T>& dlogits,
                       const std::vector<double>& static_weight = {});

}  // namespace gift

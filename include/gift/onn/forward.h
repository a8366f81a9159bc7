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

// Where per-pass draws come from: stream (seed, purpose, a = pass, b = sample id,
// c = noise_stream_word(layer, stream_id of the site)), i.e. c = layer * 4 + id for the
// four original sites (ids 0..3, fixed in noise_sites()) and a disjoint range for any later
// site, so adding a site never changes existing draws. Row r of a batch is sample
// `first_sample + r`, so the draws of a sample never depend on how a batch is split across
// threads.
struct NoiseDraws {
  uint64_t seed = 0;
  Purpose purpose = Purpose::kTrainNoise;
  uint32_t pass = 0;
  uint64_t first_sample = 0;
};

template <class T>
struct LayerTape {
  MatT<T> xi[kNumNoiseSites];  // B x O draws of the active sites by site_index (others empty)
  MatT<T> w_sq;                // O x I, W⊙W (weight noise only)
  MatT<T> x_sq;                // B x I, input squared (weight noise only)
  MatT<T> sd;                  // B x O, s_w sqrt(q) (weight noise only)
  MatT<T> z;                   // B x O, detected sum
  MatT<T> a;                   // B x O, layer output
  MatT<T> du;                  // B x O, backward: dloss/du
  MatT<T> dq;                  // B x O, backward: dloss/dq (weight noise only)
};

template <class T>
struct Tape {
  MatT<T> x;  // B x I_0, the batch
  std::vector<LayerTape<T>> layers;
  MatT<T> da, g;  // backward's scratch, kept to reuse its memory
  const MatT<T>& logits() const { return layers.back().a; }
  // Input of layer l (the batch for l = 0).
  const MatT<T>& input(size_t l) const { return l == 0 ? x : layers[l - 1].a; }
};

// a = φ(z), elementwise (B x O).
template <class T>
void apply_activation(MatT<T>& a, const MatT<T>& z, Activation act);

// w_sq[l] = W_l ⊙ W_l for every layer with weight noise (empty otherwise): computed once
// per step and shared by the row blocks that run forward and backward with the same weights.
template <class T>
void weight_squares(std::vector<MatT<T>>& w_sq, const NetworkT<T>& net, const NoiseModel& noise);

// Runs `x` (B x I_0) through `net` under `noise` (validated by the caller). With
// `draws` null, the caller has already sized and filled tape.layers[l].xi[site]
// (B x O_l) for every site whose std is non-zero on layer l (tests, golden fixtures).
// `w_sq` (from weight_squares, or null to compute them into the tape) must stay alive and
// unchanged until network_backward of this tape has run.
template <class T>
void network_forward(Tape<T>& tape, const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x,
                     const NoiseModel& noise, const NoiseDraws* draws,
                     const std::vector<MatT<T>>* w_sq = nullptr);

// Layer 0's noiseless part for a fixed batch and weights: m = x W_0ᵀ + b_0 (B x O_0) and,
// under weight noise, sd (B x O_0). It is the same in every Monte-Carlo pass over that batch,
// so passes compute it once (first_layer) and start from it (network_forward_from), with the
// same result, bit for bit, as network_forward on the batch.
template <class T>
struct FirstLayer {
  MatT<T> m, sd;
};

template <class T>
void first_layer(FirstLayer<T>& first, const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x,
                 const NoiseModel& noise, const std::vector<MatT<T>>* w_sq = nullptr);

// network_forward of the batch that `first` was computed on, for inference only: the tape
// holds no batch (tape.x is empty), so network_backward must not be called on it.
template <class T>
void network_forward_from(Tape<T>& tape, const NetworkT<T>& net, const FirstLayer<T>& first,
                          const NoiseModel& noise, const NoiseDraws& draws,
                          const std::vector<MatT<T>>* w_sq = nullptr);

// The tape of a pass measured on a device (hardware in the loop): the batch `x`, every
// layer's detected sums `sums[l]` (B x O_l) and the final output `out` (B x O_L, taken as
// the logits). Layer inputs are φ of the measured sums. The draws that backward needs under
// `noise` (the calibrated estimate) are not observed; each is set to its conditional mean
// given the measured residual e = z - (h Wᵀ + b), under the linearisation
//   e ≈ sd ξ_w + m s_m ξ_m + s_a ξ_a + (output noise of the previous layer),
// so E[ξ | e] = c e / Var[e] with c = sd for ξ_w and m s_m for ξ_m. With one site active
// this recovers the draw exactly (e.g. 1 + s_m ξ_m = z / m); a clean backward instead drops
// the noise-induced part of the gradient.
template <class T>
void tape_from_measurement(Tape<T>& tape, const NetworkT<T>& net, const MatT<T>& x,
                           const std::vector<MatT<T>>& sums, const MatT<T>& out,
                           const NoiseModel& noise);

// Backpropagates `dlogits` (B x O_L) through the recorded tape: fills du and dq of
// every layer, and dx (B x I_0) if non-null. `w_sq` as given to network_forward.
template <class T>
void network_backward(Tape<T>& tape, const NetworkT<T>& net, const NoiseModel& noise,
                      const MatT<T>& dlogits, MatT<T>* dx,
                      const std::vector<MatT<T>>* w_sq = nullptr);

// Adds to `grad` (laid out like net.params()) the gradient of layer `l` rows [o_begin,
// o_end) of W and b from one batch: du (B x O_l) and dq (weight noise only, B x O_l) as
// network_backward leaves them, `input` the layer's input (B x I_l) and x_sq its square
// (weight noise only). One product over all B rows, so a batch stacked from row blocks
// gives the same sum whatever the thread count.
template <class T>
void layer_grad(VecT<T>& grad, const NetworkT<T>& net, const NoiseModel& noise, size_t l,
                int o_begin, int o_end, const Eigen::Ref<const MatT<T>>& du,
                const Eigen::Ref<const MatT<T>>& input, const MatT<T>* dq, const MatT<T>* x_sq);

// layer_grad of each of `tapes` in order (hardware in the loop, tests). Deterministic for a
// fixed list of tapes; disjoint row ranges may run in parallel.
template <class T>
void accumulate_layer_grad(VecT<T>& grad, const NetworkT<T>& net, const NoiseModel& noise,
                           const std::vector<const Tape<T>*>& tapes, size_t l, int o_begin,
                           int o_end);

// Hardware in the loop: grad (laid out like net.params(), overwritten) = the gradient, in
// every layer's W and b, of a loss whose gradient in the logits is `dlogits` (B x O_L),
// backpropagated through the pass measured on a device (x, sums, out as for
// tape_from_measurement, the draws inferred under `noise`). The same arithmetic as
// tape_from_measurement, network_backward and accumulate_layer_grad of every layer in turn.
template <class T>
void measured_gradient(VecT<T>& grad, const NetworkT<T>& net, const MatT<T>& x,
                       const std::vector<MatT<T>>& sums, const MatT<T>& out,
                       const NoiseModel& noise, const MatT<T>& dlogits);

}  // namespace gift

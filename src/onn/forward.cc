#include "gift/onn/forward.h"

#include <cmath>

#include "gift/core/error.h"

namespace gift {
template <class T>
void apply_activation(MatT<T>& a, const MatT<T>& z, Activation act) {
  switch (act) {
    case Activation::kLinear:
      a = z;
      break;
    case Activation::kRelu:
      a = z.cwiseMax(T(0));
      break;
    case Activation::kSigmoid:
      a = (T(1) / (T(1) + (-z.array()).exp())).matrix();
      break;
    case Activation::kTanh:
      a = z.array().tanh().matrix();
      break;
  }
}

namespace {

// Where each site's draws sit in LayerTape::xi.
constexpr int kXiWeight = site_index(NoiseSite::kWeight);
constexpr int kXiSumMult = site_index(NoiseSite::kSumMult);
constexpr int kXiSumAdd = site_index(NoiseSite::kSumAdd);
constexpr int kXiOutAdd = site_index(NoiseSite::kOutAdd);
constexpr int kXiDrift = site_index(NoiseSite::kDrift);
constexpr int kXiInAdd = site_index(NoiseSite::kInAdd);

// dz = da ⊙ φ'(z), in place on da.
template <class T>
void activation_backward(MatT<T>& da, const MatT<T>& z, Activation act) {
  switch (act) {
    case Activation::kLinear:
      break;
    case Activation::kRelu:
      da.array() *= (z.array() > T(0)).template cast<T>();
      break;
    case Activation::kSigmoid: {
      const auto s = T(1) / (T(1) + (-z.array()).exp());
      da.array() *= s * (T(1) - s);
      break;
    }
    case Activation::kTanh:
      da.array() *= T(1) - z.array().tanh().square();
      break;
  }
}

template <class T>
void draw(MatT<T>& xi, const NoiseDraws& d, size_t layer, const NoiseSiteInfo& site, int rows,
          int cols) {
  xi.resize(rows, cols);
  const uint32_t c = noise_stream_word(layer, site.stream_id);
  if (site.site == NoiseSite::kDrift) {
    // One draw per call (NoiseDraws::call) and neuron, the same for every sample of the call: b = 0
    // for every row, so it never depends on how a batch is split.
    const RngStream s{d.seed, d.purpose, d.call, 0, c};
    fill_normal(xi.row(0).data(), static_cast<size_t>(cols), s);
    for (int r = 1; r < rows; ++r) xi.row(r) = xi.row(0);
    return;
  }
  for (int r = 0; r < rows; ++r) {
    const RngStream s{d.seed, d.purpose, d.call, static_cast<uint32_t>(d.first_sample + r), c};
    fill_normal(xi.row(r).data(), static_cast<size_t>(cols), s);
  }
}

}  // namespace

template <class T>
void weight_stats(WeightStats<T>& ws, const NetworkT<T>& net, const NoiseModel& noise) {
  const size_t L = net.num_layers();
  ws.sq.resize(L);
  ws.abs.resize(L);
  for (size_t l = 0; l < L; ++l) {
    const LayerNoise& n = noise.layers[l];
    const auto W = net.weight(l);
    if (n.weight > 0) {
      ws.sq[l] = W.array().square().matrix();
    } else {
      ws.sq[l].resize(0, 0);
    }
    if (n.shot > 0 || n.rin > 0) {
      ws.abs[l] = W.cwiseAbs();
    } else {
      ws.abs[l].resize(0, 0);
    }
  }
}

namespace {

bool needs_power(const LayerNoise& n) { return n.shot > 0 || n.rin > 0; }

// Layer l's noiseless sum m = h Wᵀ (+ b, legacy chain) into t.z and what the signal-dependent
// sites need: under weight noise sd = s_w sqrt((h⊙h)(W⊙W)ᵀ) into t.sd (h⊙h kept in t.x_sq for
// backward), P = h |W|ᵀ into t.p, the bias-free m into t.m (rin), Σ_j h_j² into t.h2.
template <class T>
void layer_mean(LayerTape<T>& t, const NetworkT<T>& net, size_t l,
                const Eigen::Ref<const MatT<T>>& h, const LayerNoise& n, const WeightStats<T>* ws) {
  const auto W = net.weight(l);
  const int B = static_cast<int>(h.rows()), O = static_cast<int>(W.rows());
  t.z.resize(B, O);
  t.z.noalias() = h * W.transpose();
  if (!net.has_gain()) t.z.rowwise() += net.bias(l);
  if (n.rin > 0) t.m = t.z;  // the differential sum (legacy: the bias inside it)
  if (n.weight > 0) {
    if (!ws) t.w_sq = W.array().square().matrix();
    const MatT<T>& wsq = ws ? ws->sq[l] : t.w_sq;
    t.x_sq = h.array().square().matrix();
    t.sd.resize(B, O);
    t.sd.noalias() = t.x_sq * wsq.transpose();
    t.sd = (t.sd.array().sqrt() * static_cast<T>(n.weight)).matrix();
  }
  if (needs_power(n)) {
    if (!ws) t.w_abs = W.cwiseAbs();
    const MatT<T>& wabs = ws ? ws->abs[l] : t.w_abs;
    t.p.resize(B, O);
    t.p.noalias() = h * wabs.transpose();
  }
  if (n.weight_add > 0) t.h2 = h.array().square().rowwise().sum().matrix();
}

// The stds of the signal-dependent additive sites (LayerTape::sdn) from what layer_mean left.
template <class T>
void signal_stds(LayerTape<T>& t, const LayerNoise& n, int B, int O) {
  const T s_shot = static_cast<T>(n.shot), s_rin = static_cast<T>(n.rin);
  if (n.shot > 0) t.sdn[0] = (t.p.array().max(T(0)).sqrt() * s_shot).matrix();
  if (n.rin > 0) {
    t.sdn[1] = ((T(0.5) * (t.p.array().square() + t.m.array().square())).sqrt() * s_rin).matrix();
  }
  if (n.weight_add > 0) {
    t.sdn[2].resize(B, O);
    t.sdn[2].colwise() = (t.h2.array().sqrt() * static_cast<T>(n.weight_add)).matrix();
  }
  for (int k = 0; k < kNumSignalSites; ++k) {
    if (n.at(kSignalSites[k]) <= 0) t.sdn[k].resize(0, 0);
  }
}

// The forward of every layer. Layer 0 starts from `first` (its noiseless products, computed
// once for many repeats) unless null or in_add is on there; then from tape.x (or first->x).
template <class T>
void forward_layers(Tape<T>& tape, const NetworkT<T>& net, int B, const NoiseModel& noise,
                    const NoiseDraws* draws, const WeightStats<T>* ws, const FirstLayer<T>* first) {
  const size_t L = net.num_layers();
  const T clip = static_cast<T>(noise.output_clip);
  const bool physical = net.has_gain();
  for (size_t l = 0; l < L; ++l) {
    LayerTape<T>& t = tape.layers[l];
    const LayerNoise& n = noise.layers[l];
    const int O = net.arch().sizes[l + 1];
    const int I = net.arch().sizes[l];
    for (const NoiseSiteInfo& site : noise_sites()) {
      MatT<T>& xi = t.xi[site_index(site.site)];
      const int cols = site.site == NoiseSite::kInAdd ? I : O;
      if (n.*site.member <= 0) {
        xi.resize(0, 0);
      } else if (draws) {
        draw(xi, *draws, l, site, B, cols);
      } else if (xi.rows() != B || xi.cols() != cols) {
        throw InternalError("forward: given noise draws have the wrong shape");
      }
    }
    if (n.in_add > 0) {
      const MatT<T>& h = l > 0 ? tape.layers[l - 1].a : first ? first->x : tape.x;
      t.x_in = h + static_cast<T>(n.in_add) * t.xi[kXiInAdd];
      layer_mean<T>(t, net, l, t.x_in, n, ws);
    } else {
      t.x_in.resize(0, 0);
      if (l > 0) {
        layer_mean<T>(t, net, l, tape.layers[l - 1].a, n, ws);
      } else if (first) {
        t.z = first->z;
        if (n.weight > 0) t.sd = first->sd;
        if (needs_power(n)) t.p = first->p;
        if (n.rin > 0) t.m = first->m;
        if (n.weight_add > 0) t.h2 = first->h2;
      } else {
        layer_mean<T>(t, net, l, tape.x, n, ws);
      }
    }
    signal_stds<T>(t, n, B, O);
    // u = m (+ sd ⊙ ξ_w) (+ sd_k ⊙ ξ_k), held in z.
    if (n.weight > 0) t.z.array() += t.sd.array() * t.xi[kXiWeight].array();
    for (int k = 0; k < kNumSignalSites; ++k) {
      if (t.sdn[k].size())
        t.z.array() += t.sdn[k].array() * t.xi[site_index(kSignalSites[k])].array();
    }
    if (n.sum_mult > 0) t.z.array() *= T(1) + static_cast<T>(n.sum_mult) * t.xi[kXiSumMult].array();
    if (n.drift > 0) t.z.array() *= T(1) + static_cast<T>(n.drift) * t.xi[kXiDrift].array();
    if (n.sum_add > 0) t.z.array() += static_cast<T>(n.sum_add) * t.xi[kXiSumAdd].array();
    if (physical) {
      t.u = t.z;
      t.z.array().rowwise() *= net.gain(l).array();
      t.z.rowwise() += net.bias(l);
    }
    apply_activation(t.a, t.z, net.arch().activations[l]);
    // Physical chain: the modulator's drive saturates into [0, 1]; its output noise (out_add,
    // like the next layer's in_add) is on the intensity it emits, after the saturation.
    if (physical && l + 1 < L) t.a = t.a.cwiseMax(T(0)).cwiseMin(static_cast<T>(kModulatorMax));
    if (n.out_add > 0) t.a.array() += static_cast<T>(n.out_add) * t.xi[kXiOutAdd].array();
    if (clip > 0) t.a = t.a.cwiseMax(-clip).cwiseMin(clip);
  }
}

template <class T>
void check_forward(const NetworkT<T>& net, Eigen::Index cols, const NoiseModel& noise) {
  if (cols != net.arch().inputs()) {
    throw InputError("forward: input has " + std::to_string(cols) + " columns, network expects " +
                     std::to_string(net.arch().inputs()));
  }
  if (noise.layers.size() != net.num_layers()) {
    throw InternalError("forward: noise model has wrong layer count");
  }
}

}  // namespace

template <class T>
void network_forward(Tape<T>& tape, const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x,
                     const NoiseModel& noise, const NoiseDraws* draws, const WeightStats<T>* ws) {
  check_forward(net, x.cols(), noise);
  tape.layers.resize(net.num_layers());
  tape.x = x;
  forward_layers<T>(tape, net, static_cast<int>(x.rows()), noise, draws, ws, nullptr);
}

template <class T>
void first_layer(FirstLayer<T>& first, const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x,
                 const NoiseModel& noise, const WeightStats<T>* ws) {
  check_forward(net, x.cols(), noise);
  LayerTape<T> t;
  layer_mean<T>(t, net, 0, x, noise.layers[0], ws);
  first.z.swap(t.z);
  first.sd.swap(t.sd);
  first.p.swap(t.p);
  first.m.swap(t.m);
  first.h2.swap(t.h2);
  if (noise.layers[0].in_add > 0) {
    first.x = x;
  } else {
    first.x.resize(0, 0);
  }
}

template <class T>
void network_forward_from(Tape<T>& tape, const NetworkT<T>& net, const FirstLayer<T>& first,
                          const NoiseModel& noise, const NoiseDraws& draws,
                          const WeightStats<T>* ws) {
  if (noise.layers.size() != net.num_layers()) {
    throw InternalError("forward: noise model has wrong layer count");
  }
  tape.layers.resize(net.num_layers());
  tape.x.resize(0, 0);
  forward_layers<T>(tape, net, static_cast<int>(first.z.rows()), noise, &draws, ws, &first);
}

template <class T>
void tape_from_measurement(Tape<T>& tape, const NetworkT<T>& net, const MatT<T>& x,
                           const std::vector<MatT<T>>& sums, const MatT<T>& out,
                           const NoiseModel& noise, const std::vector<double>& static_weight) {
  const size_t L = net.num_layers();
  if (sums.size() != L || noise.layers.size() != L ||
      (!static_weight.empty() && static_weight.size() != L)) {
    throw InternalError("tape_from_measurement: wrong number of layers");
  }
  const bool physical = net.has_gain();
  const T clip = static_cast<T>(noise.output_clip);
  const int B = static_cast<int>(x.rows());
  tape.x = x;
  tape.layers.resize(L);
  for (size_t l = 0; l < L; ++l) {
    LayerTape<T>& t = tape.layers[l];
    const LayerNoise& n = noise.layers[l];
    const auto W = net.weight(l);
    const int O = static_cast<int>(W.rows());
    if (sums[l].rows() != B || sums[l].cols() != O) {
      throw InputError("measured sums of layer " + std::to_string(l) + " have the wrong shape");
    }
    // in_add's draws (one per input, shared by every neuron) are not inferred: the input is
    // taken as sent; their variance still enters Var[e] below.
    t.x_in.resize(0, 0);
    const MatT<T>& h = tape.input(l);
    t.z = sums[l];
    for (int s = 0; s < kNumNoiseSites; ++s) t.xi[s].resize(0, 0);
    // The noiseless sum and the forward's own signal stds (weight, shot, rin, weight_add,
    // in_add), so that backward sees the tape a forward with these draws would have left.
    layer_mean<T>(t, net, l, h, n, nullptr);
    signal_stds<T>(t, n, B, O);
    const MatT<T> m = t.z;  // h Wᵀ (+ b legacy)
    t.z = sums[l];
    MatT<T> e;  // the residual in the units of u
    if (physical) {
      // e = (z - (g ⊙ m + b)) / g, the residual of the optical sum; u = m + e.
      const RowVecT<T> g = net.gain(l);
      e = sums[l];
      e.rowwise() -= net.bias(l);
      for (int o = 0; o < O; ++o) {
        const T gi = g(o);
        if (gi != T(0)) {
          e.col(o) = e.col(o) / gi - m.col(o);
        } else {
          e.col(o).setZero();
        }
      }
      t.u = m + e;
    } else {
      e = sums[l] - m;
    }
    const RowVecT<T> b = physical ? RowVecT<T>() : RowVecT<T>(net.bias(l));
    const double prev_so = l > 0 ? noise.layers[l - 1].out_add : 0.0;
    const double s_static = static_weight.empty() ? 0.0 : static_weight[l];
    const MatT<T> var =
        sum_variance<T>(h, W, physical ? nullptr : &b, sum_variances(n, prev_so, s_static));
    const auto ratio = (var.array() > T(0)).select(e.array() / var.array(), T(0));
    if (n.weight > 0) t.xi[kXiWeight] = (t.sd.array() * ratio).matrix();
    for (int k = 0; k < kNumSignalSites; ++k) {
      if (t.sdn[k].size()) t.xi[site_index(kSignalSites[k])] = (t.sdn[k].array() * ratio).matrix();
    }
    if (n.sum_mult > 0) {
      t.xi[kXiSumMult] = (m.array() * static_cast<T>(n.sum_mult) * ratio).matrix();
    }
    if (n.drift > 0) t.xi[kXiDrift] = (m.array() * static_cast<T>(n.drift) * ratio).matrix();
    if (n.sum_add > 0) t.xi[kXiSumAdd] = (static_cast<T>(n.sum_add) * ratio).matrix();
    if (l + 1 == L) {
      t.a = out;
    } else {
      apply_activation(t.a, t.z, net.arch().activations[l]);
      if (physical) t.a = t.a.cwiseMax(T(0)).cwiseMin(static_cast<T>(kModulatorMax));
      if (clip > 0) t.a = t.a.cwiseMax(-clip).cwiseMin(clip);
    }
  }
}

template <class T>
void network_backward(Tape<T>& tape, const NetworkT<T>& net, const NoiseModel& noise,
                      const MatT<T>& dlogits, MatT<T>* dx, const WeightStats<T>* ws) {
  const size_t L = net.num_layers();
  const T clip = static_cast<T>(noise.output_clip);
  const bool physical = net.has_gain();
  MatT<T>& da = tape.da;
  da = dlogits;
  for (size_t l = L; l-- > 0;) {
    LayerTape<T>& t = tape.layers[l];
    const LayerNoise& n = noise.layers[l];
    const auto W = net.weight(l);
    const int B = static_cast<int>(da.rows());
    if (clip > 0) da.array() *= (t.a.array().abs() < clip).template cast<T>();
    if (physical && l + 1 < L) {
      MatT<T>& clean = tape.g;  // φ(z), recomputed: the drive before saturation and noise
      apply_activation(clean, t.z, net.arch().activations[l]);
      da.array() *= ((clean.array() > T(0)) && (clean.array() < static_cast<T>(kModulatorMax)))
                        .template cast<T>();
    }
    activation_backward(da, t.z, net.arch().activations[l]);
    if (physical) {
      t.dz = da;
      da.array().rowwise() *= net.gain(l).array();
    }
    if (n.sum_mult > 0) da.array() *= T(1) + static_cast<T>(n.sum_mult) * t.xi[kXiSumMult].array();
    if (n.drift > 0) da.array() *= T(1) + static_cast<T>(n.drift) * t.xi[kXiDrift].array();
    t.du.swap(da);
    if (n.weight > 0) {
      // sd = s_w sqrt(q): d sd/dq = s_w² / (2 sd), taken as 0 where sd = 0.
      const T half_sw2 = static_cast<T>(0.5 * n.weight * n.weight);
      t.dq = (t.sd.array() > T(0))
                 .select(t.du.array() * t.xi[kXiWeight].array() * half_sw2 / t.sd.array(), T(0))
                 .matrix();
    }
    // The signal sites: sd_k = s_k sqrt(f_k), so dloss/df_k = du ξ_k s_k² / (2 sd_k).
    MatT<T> df[kNumSignalSites];
    for (int k = 0; k < kNumSignalSites; ++k) {
      if (!t.sdn[k].size()) continue;
      const double s = n.at(kSignalSites[k]);
      const T half_s2 = static_cast<T>(0.5 * s * s);
      df[k] = (t.sdn[k].array() > T(0))
                  .select(t.du.array() * t.xi[site_index(kSignalSites[k])].array() * half_s2 /
                              t.sdn[k].array(),
                          T(0))
                  .matrix();
    }
    const bool power = needs_power(n);
    if (power) {
      t.dp = MatT<T>::Zero(B, t.du.cols());
      if (df[0].size()) t.dp += df[0];                                // f = P
      if (df[1].size()) t.dp.array() += df[1].array() * t.p.array();  // f = (P² + m²) / 2
      if (df[1].size()) t.du.array() += df[1].array() * t.m.array();
    }
    if (l == 0 && !dx) break;
    MatT<T>& next = (l == 0) ? *dx : da;
    next.resize(t.du.rows(), W.cols());
    next.noalias() = t.du * W;
    if (n.weight > 0) {
      tape.g.noalias() = t.dq * (ws ? ws->sq[l] : t.w_sq);
      next.array() += T(2) * tape.input(l).array() * tape.g.array();
    }
    if (power) next.noalias() += t.dp * (ws ? ws->abs[l] : t.w_abs);
    if (df[2].size()) {  // f = Σ_j h_j²
      const VecT<T> dh2 = df[2].rowwise().sum();
      next.array() += T(2) * (tape.input(l).array().colwise() * dh2.array());
    }
  }
}

template <class T>
void layer_grad(VecT<T>& grad, const NetworkT<T>& net, const NoiseModel& noise, size_t l,
                int o_begin, int o_end, const Eigen::Ref<const MatT<T>>& du,
                const Eigen::Ref<const MatT<T>>& input, const LayerGradExtras<T>& ex) {
  const int I = net.arch().sizes[l];
  const int n_rows = o_end - o_begin;
  if (n_rows <= 0) return;
  const LayerNoise& n = noise.layers[l];
  Eigen::Map<MatT<T>> dW(grad.data() + net.weight_offset(l) + static_cast<size_t>(o_begin) * I,
                         n_rows, I);
  Eigen::Map<RowVecT<T>> db(grad.data() + net.bias_offset(l) + o_begin, n_rows);
  dW.noalias() += du.middleCols(o_begin, n_rows).transpose() * input;
  const auto Wr = net.weight(l).middleRows(o_begin, n_rows);
  if (net.has_gain()) {
    if (!ex.dz || !ex.u) throw InternalError("layer_grad: the physical chain needs dz and u");
    Eigen::Map<RowVecT<T>> dg(grad.data() + net.gain_offset(l) + o_begin, n_rows);
    db += ex.dz->middleCols(o_begin, n_rows).colwise().sum();
    dg += (ex.dz->middleCols(o_begin, n_rows).array() * ex.u->middleCols(o_begin, n_rows).array())
              .matrix()
              .colwise()
              .sum();
  } else {
    db += du.middleCols(o_begin, n_rows).colwise().sum();
  }
  if (n.weight > 0) {
    const MatT<T> var_term = ex.dq->middleCols(o_begin, n_rows).transpose() * *ex.x_sq;
    dW.array() += T(2) * Wr.array() * var_term.array();
  }
  if (n.shot > 0 || n.rin > 0) {  // P = h |W|ᵀ: dW += sign(W) ⊙ (dPᵀ h)
    const MatT<T> pt = ex.dp->middleCols(o_begin, n_rows).transpose() * input;
    dW.array() += Wr.array().sign() * pt.array();
  }
}

template <class T>
void accumulate_layer_grad(VecT<T>& grad, const NetworkT<T>& net, const NoiseModel& noise,
                           const std::vector<const Tape<T>*>& tapes, size_t l, int o_begin,
                           int o_end) {
  for (const Tape<T>* tape : tapes) {
    const LayerTape<T>& t = tape->layers[l];
    LayerGradExtras<T> ex;
    ex.dq = &t.dq;
    ex.x_sq = &t.x_sq;
    ex.dz = &t.dz;
    ex.u = &t.u;
    ex.dp = &t.dp;
    layer_grad<T>(grad, net, noise, l, o_begin, o_end, t.du, tape->input(l), ex);
  }
}

#define GIFT_INSTANTIATE(T)                                                                        \
  template void apply_activation<T>(MatT<T>&, const MatT<T>&, Activation);                         \
  template void weight_stats<T>(WeightStats<T>&, const NetworkT<T>&, const NoiseModel&);           \
  template void network_forward<T>(Tape<T>&, const NetworkT<T>&, const Eigen::Ref<const MatT<T>>&, \
                                   const NoiseModel&, const NoiseDraws*, const WeightStats<T>*);   \
  template void first_layer<T>(FirstLayer<T>&, const NetworkT<T>&,                                 \
                               const Eigen::Ref<const MatT<T>>&, const NoiseModel&,                \
                               const WeightStats<T>*);                                             \
  template void network_forward_from<T>(Tape<T>&, const NetworkT<T>&, const FirstLayer<T>&,        \
                                        const NoiseModel&, const NoiseDraws&,                      \
                                        const WeightStats<T>*);                                    \
  template void tape_from_measurement<T>(Tape<T>&, const NetworkT<T>&, const MatT<T>&,             \
                                         const std::vector<MatT<T>>&, const MatT<T>&,              \
                                         const NoiseModel&, const std::vector<double>&);           \
  template void network_backward<T>(Tape<T>&, const NetworkT<T>&, const NoiseModel&,               \
                                    const MatT<T>&, MatT<T>*, const WeightStats<T>*);              \
  template void layer_grad<T>(VecT<T>&, const NetworkT<T>&, const NoiseModel&, size_t, int, int,   \
                              const Eigen::Ref<const MatT<T>>&, const Eigen::Ref<const MatT<T>>&,  \
                              const LayerGradExtras<T>&);                                          \
  template void accumulate_layer_grad<T>(VecT<T>&, const NetworkT<T>&, const NoiseModel&,          \
                                         const std::vector<const Tape<T>*>&, size_t, int, int);
GIFT_INSTANTIATE(float)
GIFT_INSTANTIATE(double)
#undef GIFT_INSTANTIATE

template <class T>
void measured_gradient(VecT<T>& grad, const NetworkT<T>& net, const MatT<T>& x,
                       const std::vector<MatT<T>>& sums, const MatT<T>& out,
                       const NoiseModel& noise, const MatT<T>& dlogits,
                       const std::vector<double>& static_weight) {
  Tape<T> tape;
  tape_from_measurement<T>(tape, net, x, sums, out, noise, static_weight);
  network_backward<T>(tape, net, noise, dlogits, nullptr);
  grad.setZero(net.params().size());
  const std::vector<const Tape<T>*> tapes = {&tape};
  for (size_t l = 0; l < net.num_layers(); ++l) {
    accumulate_layer_grad<T>(grad, net, noise, tapes, l, 0, net.arch().sizes[l + 1]);
  }
}

template void measured_gradient<float>(VecT<float>&, const NetworkT<float>&, const MatT<float>&,
                                       const std::vector<MatT<float>>&, const MatT<float>&,
                                       const NoiseModel&, const MatT<float>&,
                                       const std::vector<double>&);
template void measured_gradient<double>(VecT<double>&, const NetworkT<double>&, const MatT<double>&,
                                        const std::vector<MatT<double>>&, const MatT<double>&,
                                        const NoiseModel&, const MatT<double>&,
                                        const std::vector<double>&);

}  // namespace gift

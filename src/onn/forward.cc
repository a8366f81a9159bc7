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
  for (int r = 0; r < rows; ++r) {
    const RngStream s{d.seed, d.purpose, d.pass, static_cast<uint32_t>(d.first_sample + r), c};
    fill_normal(xi.row(r).data(), static_cast<size_t>(cols), s);
  }
}

}  // namespace

template <class T>
void weight_squares(std::vector<MatT<T>>& w_sq, const NetworkT<T>& net, const NoiseModel& noise) {
  w_sq.resize(net.num_layers());
  for (size_t l = 0; l < net.num_layers(); ++l) {
    if (noise.layers[l].weight > 0) {
      w_sq[l] = net.weight(l).array().square().matrix();
    } else {
      w_sq[l].resize(0, 0);
    }
  }
}

namespace {

// Layer l's noiseless sum m = h Wᵀ + b into t.z and, under weight noise, its std
// sd = s_w sqrt((h⊙h)(W⊙W)ᵀ) into t.sd (with h⊙h kept in t.x_sq for backward).
template <class T>
void layer_mean(LayerTape<T>& t, const NetworkT<T>& net, size_t l,
                const Eigen::Ref<const MatT<T>>& h, const LayerNoise& n,
                const std::vector<MatT<T>>* w_sq) {
  const auto W = net.weight(l);
  const int B = static_cast<int>(h.rows()), O = static_cast<int>(W.rows());
  t.z.resize(B, O);
  t.z.noalias() = h * W.transpose();
  t.z.rowwise() += net.bias(l);
  if (n.weight > 0) {
    if (!w_sq) t.w_sq = W.array().square().matrix();
    const MatT<T>& wsq = w_sq ? (*w_sq)[l] : t.w_sq;
    t.x_sq = h.array().square().matrix();
    t.sd.resize(B, O);
    t.sd.noalias() = t.x_sq * wsq.transpose();
    t.sd = (t.sd.array().sqrt() * static_cast<T>(n.weight)).matrix();
  }
}

// The forward of every layer after the means of layer 0 are in tape.layers[0] (z, sd).
template <class T>
void forward_layers(Tape<T>& tape, const NetworkT<T>& net, int B, const NoiseModel& noise,
                    const NoiseDraws* draws, const std::vector<MatT<T>>* w_sq) {
  const size_t L = net.num_layers();
  const T clip = static_cast<T>(noise.output_clip);
  for (size_t l = 0; l < L; ++l) {
    LayerTape<T>& t = tape.layers[l];
    const LayerNoise& n = noise.layers[l];
    const int O = net.arch().sizes[l + 1];
    for (const NoiseSiteInfo& site : noise_sites()) {
      MatT<T>& xi = t.xi[site_index(site.site)];
      if (n.*site.member <= 0) {
        xi.resize(0, 0);
      } else if (draws) {
        draw(xi, *draws, l, site, B, O);
      } else if (xi.rows() != B || xi.cols() != O) {
        throw InternalError("forward: given noise draws have the wrong shape");
      }
    }
    // u = h Wᵀ + b (+ sd ⊙ ξ_w), held in z.
    if (l > 0) layer_mean<T>(t, net, l, tape.layers[l - 1].a, n, w_sq);
    if (n.weight > 0) t.z.array() += t.sd.array() * t.xi[kXiWeight].array();
    if (n.sum_mult > 0) t.z.array() *= T(1) + static_cast<T>(n.sum_mult) * t.xi[kXiSumMult].array();
    if (n.sum_add > 0) t.z.array() += static_cast<T>(n.sum_add) * t.xi[kXiSumAdd].array();
    apply_activation(t.a, t.z, net.arch().activations[l]);
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
                     const NoiseModel& noise, const NoiseDraws* draws,
                     const std::vector<MatT<T>>* w_sq) {
  check_forward(net, x.cols(), noise);
  tape.layers.resize(net.num_layers());
  tape.x = x;
  layer_mean<T>(tape.layers[0], net, 0, tape.x, noise.layers[0], w_sq);
  forward_layers(tape, net, static_cast<int>(x.rows()), noise, draws, w_sq);
}

template <class T>
void first_layer(FirstLayer<T>& first, const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x,
                 const NoiseModel& noise, const std::vector<MatT<T>>* w_sq) {
  check_forward(net, x.cols(), noise);
  LayerTape<T> t;
  layer_mean<T>(t, net, 0, x, noise.layers[0], w_sq);
  first.m.swap(t.z);
  first.sd.swap(t.sd);
}

template <class T>
void network_forward_from(Tape<T>& tape, const NetworkT<T>& net, const FirstLayer<T>& first,
                          const NoiseModel& noise, const NoiseDraws& draws,
                          const std::vector<MatT<T>>* w_sq) {
  if (noise.layers.size() != net.num_layers()) {
    throw InternalError("forward: noise model has wrong layer count");
  }
  tape.layers.resize(net.num_layers());
  tape.x.resize(0, 0);
  LayerTape<T>& t0 = tape.layers[0];
  t0.z = first.m;
  if (noise.layers[0].weight > 0) t0.sd = first.sd;
  forward_layers(tape, net, static_cast<int>(first.m.rows()), noise, &draws, w_sq);
}

template <class T>
void tape_from_measurement(Tape<T>& tape, const NetworkT<T>& net, const MatT<T>& x,
                           const std::vector<MatT<T>>& sums, const MatT<T>& out,
                           const NoiseModel& noise) {
  const size_t L = net.num_layers();
  if (sums.size() != L || noise.layers.size() != L) {
    throw InternalError("tape_from_measurement: wrong number of layers");
  }
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
    const MatT<T>& h = tape.input(l);
    t.z = sums[l];
    MatT<T> m = h * W.transpose();
    m.rowwise() += net.bias(l);
    const MatT<T> e = t.z - m;
    // Var[e] per element: every site's contribution, the previous layer's output noise too.
    MatT<T> var = MatT<T>::Constant(B, O, static_cast<T>(n.sum_add * n.sum_add));
    if (l > 0 && noise.layers[l - 1].out_add > 0) {
      const RowVecT<T> w2 = W.array().square().rowwise().sum().matrix().transpose();
      const T so2 = static_cast<T>(noise.layers[l - 1].out_add * noise.layers[l - 1].out_add);
      var.rowwise() += so2 * w2;
    }
    for (int s = 0; s < kNumNoiseSites; ++s) t.xi[s].resize(0, 0);
    if (n.weight > 0) {
      t.w_sq = W.array().square().matrix();
      t.x_sq = h.array().square().matrix();
      t.sd.resize(B, O);
      t.sd.noalias() = t.x_sq * t.w_sq.transpose();
      t.sd = (t.sd.array().sqrt() * static_cast<T>(n.weight)).matrix();
      var.array() += t.sd.array().square();
    }
    const T sm = static_cast<T>(n.sum_mult);
    if (n.sum_mult > 0) var.array() += (m.array() * sm).square();
    const auto ratio = (var.array() > T(0)).select(e.array() / var.array(), T(0));
    if (n.weight > 0) t.xi[kXiWeight] = (t.sd.array() * ratio).matrix();
    if (n.sum_mult > 0) t.xi[kXiSumMult] = (m.array() * sm * ratio).matrix();
    if (l + 1 == L) {
      t.a = out;
    } else {
      apply_activation(t.a, t.z, net.arch().activations[l]);
    }
  }
}

template <class T>
void network_backward(Tape<T>& tape, const NetworkT<T>& net, const NoiseModel& noise,
                      const MatT<T>& dlogits, MatT<T>* dx, const std::vector<MatT<T>>* w_sq) {
  const size_t L = net.num_layers();
  const T clip = static_cast<T>(noise.output_clip);
  MatT<T>& da = tape.da;
  da = dlogits;
  for (size_t l = L; l-- > 0;) {
    LayerTape<T>& t = tape.layers[l];
    const LayerNoise& n = noise.layers[l];
    const auto W = net.weight(l);
    if (clip > 0) da.array() *= (t.a.array().abs() < clip).template cast<T>();
    activation_backward(da, t.z, net.arch().activations[l]);
    if (n.sum_mult > 0) da.array() *= T(1) + static_cast<T>(n.sum_mult) * t.xi[kXiSumMult].array();
    t.du.swap(da);
    if (n.weight > 0) {
      // sd = s_w sqrt(q): d sd/dq = s_w² / (2 sd), taken as 0 where sd = 0.
      const T half_sw2 = static_cast<T>(0.5 * n.weight * n.weight);
      t.dq = (t.sd.array() > T(0))
                 .select(t.du.array() * t.xi[kXiWeight].array() * half_sw2 / t.sd.array(), T(0))
                 .matrix();
    }
    if (l == 0 && !dx) break;
    MatT<T>& next = (l == 0) ? *dx : da;
    next.resize(t.du.rows(), W.cols());
    next.noalias() = t.du * W;
    if (n.weight > 0) {
      tape.g.noalias() = t.dq * (w_sq ? (*w_sq)[l] : t.w_sq);
      next.array() += T(2) * tape.input(l).array() * tape.g.array();
    }
  }
}

template <class T>
void layer_grad(VecT<T>& grad, const NetworkT<T>& net, const NoiseModel& noise, size_t l,
                int o_begin, int o_end, const Eigen::Ref<const MatT<T>>& du,
                const Eigen::Ref<const MatT<T>>& input, const MatT<T>* dq, const MatT<T>* x_sq) {
  const int I = net.arch().sizes[l];
  const int n_rows = o_end - o_begin;
  if (n_rows <= 0) return;
  Eigen::Map<MatT<T>> dW(grad.data() + net.weight_offset(l) + static_cast<size_t>(o_begin) * I,
                         n_rows, I);
  Eigen::Map<RowVecT<T>> db(grad.data() + net.bias_offset(l) + o_begin, n_rows);
  dW.noalias() += du.middleCols(o_begin, n_rows).transpose() * input;
  db += du.middleCols(o_begin, n_rows).colwise().sum();
  if (noise.layers[l].weight > 0) {
    const MatT<T> var_term = dq->middleCols(o_begin, n_rows).transpose() * *x_sq;
    dW.array() += T(2) * net.weight(l).middleRows(o_begin, n_rows).array() * var_term.array();
  }
}

template <class T>
void accumulate_layer_grad(VecT<T>& grad, const NetworkT<T>& net, const NoiseModel& noise,
                           const std::vector<const Tape<T>*>& tapes, size_t l, int o_begin,
                           int o_end) {
  for (const Tape<T>* tape : tapes) {
    const LayerTape<T>& t = tape->layers[l];
    layer_grad<T>(grad, net, noise, l, o_begin, o_end, t.du, tape->input(l), &t.dq, &t.x_sq);
  }
}

#define GIFT_INSTANTIATE(T)                                                                        \
  template void apply_activation<T>(MatT<T>&, const MatT<T>&, Activation);                         \
  template void weight_squares<T>(std::vector<MatT<T>>&, const NetworkT<T>&, const NoiseModel&);   \
  template void network_forward<T>(Tape<T>&, const NetworkT<T>&, const Eigen::Ref<const MatT<T>>&, \
                                   const NoiseModel&, const NoiseDraws*,                           \
                                   const std::vector<MatT<T>>*);                                   \
  template void first_layer<T>(FirstLayer<T>&, const NetworkT<T>&,                                 \
                               const Eigen::Ref<const MatT<T>>&, const NoiseModel&,                \
                               const std::vector<MatT<T>>*);                                       \
  template void network_forward_from<T>(Tape<T>&, const NetworkT<T>&, const FirstLayer<T>&,        \
                                        const NoiseModel&, const NoiseDraws&,                      \
                                        const std::vector<MatT<T>>*);                              \
  template void tape_from_measurement<T>(Tape<T>&, const NetworkT<T>&, const MatT<T>&,             \
                                         const std::vector<MatT<T>>&, const MatT<T>&,              \
                                         const NoiseModel&);                                       \
  template void network_backward<T>(Tape<T>&, const NetworkT<T>&, const NoiseModel&,               \
                                    const MatT<T>&, MatT<T>*, const std::vector<MatT<T>>*);        \
  template void layer_grad<T>(VecT<T>&, const NetworkT<T>&, const NoiseModel&, size_t, int, int,   \
                              const Eigen::Ref<const MatT<T>>&, const Eigen::Ref<const MatT<T>>&,  \
                              const MatT<T>*, const MatT<T>*);                                     \
  template void accumulate_layer_grad<T>(VecT<T>&, const NetworkT<T>&, const NoiseModel&,          \
                                         const std::vector<const Tape<T>*>&, size_t, int, int);
GIFT_INSTANTIATE(float)
GIFT_INSTANTIATE(double)
#undef GIFT_INSTANTIATE

template <class T>
void measured_gradient(VecT<T>& grad, const NetworkT<T>& net, const MatT<T>& x,
                       const std::vector<MatT<T>>& sums, const MatT<T>& out,
                       const NoiseModel& noise, const MatT<T>& dlogits) {
  Tape<T> tape;
  tape_from_measurement<T>(tape, net, x, sums, out, noise);
  network_backward<T>(tape, net, noise, dlogits, nullptr);
  grad.setZero(net.params().size());
  const std::vector<const Tape<T>*> tapes = {&tape};
  for (size_t l = 0; l < net.num_layers(); ++l) {
    accumulate_layer_grad<T>(grad, net, noise, tapes, l, 0, net.arch().sizes[l + 1]);
  }
}

template void measured_gradient<float>(VecT<float>&, const NetworkT<float>&, const MatT<float>&,
                                       const std::vector<MatT<float>>&, const MatT<float>&,
                                       const NoiseModel&, const MatT<float>&);
template void measured_gradient<double>(VecT<double>&, const NetworkT<double>&, const MatT<double>&,
                                        const std::vector<MatT<double>>&, const MatT<double>&,
                                        const NoiseModel&, const MatT<double>&);

}  // namespace gift

// The variance model of a layer's sums (onn/forward.h: sum_feature, residual_variance,
// sum_variances, sum_variance): what calibration fits and hardware-in-the-loop infers under.
// Part of forward.h's definitions, kept apart from the forward and backward passes.
#include <cmath>

#include "gift/core/error.h"
#include "gift/onn/forward.h"

namespace gift {

template <class T>
MatT<T> sum_feature(NoiseSite site, const MatT<T>& h, const Eigen::Ref<const MatT<T>>& W,
                    const RowVecT<T>* bias) {
  const Eigen::Index B = h.rows(), O = W.rows();
  const auto mean = [&] {
    MatT<T> m = h * W.transpose();
    if (bias) m.rowwise() += *bias;
    return m;
  };
  const auto power = [&] {
    const MatT<T> a = W.cwiseAbs();
    return MatT<T>(h * a.transpose());
  };
  const auto row_sq = [&] {
    MatT<T> f(B, O);
    f.rowwise() = W.array().square().rowwise().sum().matrix().transpose();
    return f;
  };
  switch (site) {
    case NoiseSite::kWeight: {
      const MatT<T> h2 = h.array().square().matrix();
      const MatT<T> w2 = W.array().square().matrix();
      return h2 * w2.transpose();
    }
    case NoiseSite::kSumMult:
    case NoiseSite::kDrift:
      return mean().array().square().matrix();
    case NoiseSite::kSumAdd:
      return MatT<T>::Ones(B, O);
    case NoiseSite::kShot:
      return power().cwiseMax(T(0));
    case NoiseSite::kRin: {
      const MatT<T> m = mean();
      return (T(0.5) * (power().array().square() + m.array().square())).matrix();
    }
    case NoiseSite::kWeightAdd: {
      MatT<T> f(B, O);
      f.colwise() = h.array().square().rowwise().sum().matrix();
      return f;
    }
    case NoiseSite::kInAdd:
    case NoiseSite::kOutAdd:
      return row_sq();
  }
  throw InternalError("sum_feature: unknown site");
}

double residual_variance(const SumVariances& v, const SumFeatures& f, double* J) {
  const double inner = v.weight * f.Q + v.shot * f.P + v.rin * f.Fr + v.weight_add * f.Fh +
                       (1 + v.weight) * v.in * f.w2;
  if (J) {
    J[0] = 1;
    J[1] = f.M + inner;
    J[2] = (1 + v.mult) * (f.Q + v.in * f.w2);
    J[3] = (1 + v.mult) * (1 + v.weight) * f.w2;
    J[4] = (1 + v.mult) * f.P;
    J[5] = (1 + v.mult) * f.Fr;
    J[6] = (1 + v.mult) * f.Fh;
  }
  return v.add + v.mult * f.M + (1 + v.mult) * inner;
}

SumVariances sum_variances(const LayerNoise& n, double prev_out_add, double static_weight) {
  const auto sq = [](double s) { return s * s; };
  SumVariances v;
  v.add = sq(n.sum_add);
  v.mult = (1 + sq(n.sum_mult)) * (1 + sq(n.drift)) - 1;
  v.weight = sq(n.weight) + sq(static_weight);
  v.in = sq(n.in_add) + sq(prev_out_add);
  v.shot = sq(n.shot);
  v.rin = sq(n.rin);
  v.weight_add = sq(n.weight_add);
  return v;
}

template <class T>
MatT<T> sum_variance(const MatT<T>& h, const Eigen::Ref<const MatT<T>>& W, const RowVecT<T>* bias,
                     const SumVariances& v) {
  const Eigen::Index B = h.rows(), O = W.rows();
  const auto feature = [&](NoiseSite site, bool on) -> MatT<T> {
    if (!on) return MatT<T>::Zero(B, O);
    return sum_feature<T>(site, h, W, bias);
  };
  const MatT<T> M = feature(NoiseSite::kSumMult, v.mult > 0);
  const MatT<T> Q = feature(NoiseSite::kWeight, v.weight > 0);
  const MatT<T> w2 = feature(NoiseSite::kInAdd, v.in > 0);
  const MatT<T> P = feature(NoiseSite::kShot, v.shot > 0);
  const MatT<T> Fr = feature(NoiseSite::kRin, v.rin > 0);
  const MatT<T> Fh = feature(NoiseSite::kWeightAdd, v.weight_add > 0);
  MatT<T> var(B, O);
  for (Eigen::Index j = 0; j < O; ++j) {
    for (Eigen::Index i = 0; i < B; ++i) {
      const SumFeatures f{M(i, j), Q(i, j), w2(i, j), P(i, j), Fr(i, j), Fh(i, j)};
      var(i, j) = static_cast<T>(residual_variance(v, f));
    }
  }
  return var;
}

template <class T>
MatT<T> sum_variance(const MatT<T>& h, const Eigen::Ref<const MatT<T>>& W, const RowVecT<T>* bias,
                     const LayerNoise& n, double prev_out_add) {
  return sum_variance<T>(h, W, bias, sum_variances(n, prev_out_add));
}

#define GIFT_INSTANTIATE(T)                                                                    \
  template MatT<T> sum_feature<T>(NoiseSite, const MatT<T>&, const Eigen::Ref<const MatT<T>>&, \
                                  const RowVecT<T>*);                                          \
  template MatT<T> sum_variance<T>(const MatT<T>&, const Eigen::Ref<const MatT<T>>&,           \
                                   const RowVecT<T>*, const LayerNoise&, double);              \
  template MatT<T> sum_variance<T>(const MatT<T>&, const Eigen::Ref<const MatT<T>>&,           \
                                   const RowVecT<T>*, const SumVariances&);
GIFT_INSTANTIATE(float)
GIFT_INSTANTIATE(double)
#undef GIFT_INSTANTIATE

}  // namespace gift

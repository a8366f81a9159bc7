// Matrix aliases and the one shape legend of gift.
//
// Shape legend (used in every shape comment):
//   B  batch size (samples)     I  layer inputs     O  layer outputs (neurons)
//   N  data set size            L  number of layers
//
// Every sample is a ROW: a batch of inputs is B x I, a layer's weights are O x I,
// its outputs B x O (so y = x W^T + b). Matrices are row-major.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

namespace gift {

template <class T>
using MatT = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using VecT = Eigen::Matrix<T, Eigen::Dynamic, 1>;  // column vector
template <class T>
using RowVecT = Eigen::Matrix<T, 1, Eigen::Dynamic>;  // one sample / a bias

using Mat = MatT<float>;
using MatD = MatT<double>;
using Vec = VecT<float>;
using VecD = VecT<double>;

}  // namespace gift

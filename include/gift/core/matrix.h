// Matrix aliases and the one shape legend of gift.
//
// Shape legend (used in every shape comment):
//   B  batch size (samples)     I  layer inputs     O  layer outputs (neurons)
//   N  data set size            L  number of layers
//
// Every sample is a ROW: a batch of inputs is B x I, a layer's weights are O x I,
// its outputs B x O (so y = x W^T + b). Matrices are row-major.
#pragma once

// GCC 12 false positives: with AVX-512 enabled (-march=native on such a CPU), Eigen's packet math
// inlines intrinsics such as _mm512_undefined_ps (an "uninitialized" value by design) and masked
// 512-bit loads, and GCC then warns -Wmaybe-uninitialized / -Wuninitialized / -Warray-bounds at
// lines of avx512fintrin.h. The warnings are located in the intrinsics header, which Eigen
// includes first here, so they are switched off for those headers only, not for gift's code.
// (A file that includes the intrinsics before this header, e.g. through Random123, needs its
// own; see CMakeLists.txt.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Warray-bounds"
#include <Eigen/Core>
#pragma GCC diagnostic pop
#else
#include <Eigen/Core>
#endif
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

// xb, yb = the rows rows[0 .. n) of (images, labels), in that order (xb: n x images.cols()):
// the one row gather (training batches, data subsets, the lab split). Requires each
// rows[i] < images.rows() == labels.size().
inline void gather_rows(const Mat& images, const std::vector<int>& labels, const uint32_t* rows,
                        size_t n, Mat& xb, std::vector<int>& yb) {
  xb.resize(static_cast<Eigen::Index>(n), images.cols());
  yb.resize(n);
  for (size_t i = 0; i < n; ++i) {
    xb.row(static_cast<Eigen::Index>(i)) = images.row(rows[i]);
    yb[i] = labels[rows[i]];
  }
}

}  // namespace gift

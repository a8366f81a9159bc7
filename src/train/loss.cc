#include "gift/train/loss.h"

#include <algorithm>
#include <cmath>

#include "gift/core/error.h"

namespace gift {

void check_labelled_data(const Architecture& arch, const Mat& images,
                         const std::vector<int>& labels, const std::string& what) {
  const size_t n = static_cast<size_t>(images.rows());
  if (n == 0) throw InputError(what + ": no images");
  if (labels.size() != n) {
    throw InputError(what + ": " + std::to_string(n) + " images but " +
                     std::to_string(labels.size()) + " labels");
  }
  if (images.cols() != arch.inputs()) {
    throw InputError(what + ": images have " + std::to_string(images.cols()) +
                     " pixels, the network (" + arch.describe() + ") expects " +
                     std::to_string(arch.inputs()));
  }
  const auto [lo, hi] = std::minmax_element(labels.begin(), labels.end());
  if (*lo < 0) throw InputError(what + ": negative label " + std::to_string(*lo));
  if (*hi >= arch.outputs()) {
    throw InputError(what + ": label " + std::to_string(*hi) + " needs at least " +
                     std::to_string(*hi + 1) + " outputs, but the network (" + arch.describe() +
                     ") has " + std::to_string(arch.outputs()));
  }
}

template <class T>
void argmax_rows(const MatT<T>& logits, int* out) {
  for (Eigen::Index r = 0; r < logits.rows(); ++r) {
    Eigen::Index best = 0;
    for (Eigen::Index c = 1; c < logits.cols(); ++c) {
      if (logits(r, c) > logits(r, best)) best = c;
    }
    out[r] = static_cast<int>(best);
  }
}

template <class T>
double softmax_xent(const MatT<T>& logits, const int* labels, MatT<T>* dlogits, T scale,
                    int* correct) {
  const Eigen::Index B = logits.rows(), C = logits.cols();
  if (dlogits) dlogits->resize(B, C);
  double total = 0;
  for (Eigen::Index r = 0; r < B; ++r) {
    const auto row = logits.row(r);
    const T mx = row.maxCoeff();
    double sum = 0;
    for (Eigen::Index c = 0; c < C; ++c) sum += std::exp(static_cast<double>(row(c) - mx));
    const int y = labels[r];
    total += std::log(sum) - static_cast<double>(row(y) - mx);
    if (dlogits) {
      for (Eigen::Index c = 0; c < C; ++c) {
        const double p = std::exp(static_cast<double>(row(c) - mx)) / sum;
        (*dlogits)(r, c) = static_cast<T>((p - (c == y ? 1.0 : 0.0))) * scale;
      }
    }
    if (correct) {
      Eigen::Index best = 0;
      for (Eigen::Index c = 1; c < C; ++c) {
        if (row(c) > row(best)) best = c;
      }
      if (best == y) ++*correct;
    }
  }
  return total;
}

template double softmax_xent<float>(const MatT<float>&, const int*, MatT<float>*, float, int*);
template double softmax_xent<double>(const MatT<double>&, const int*, MatT<double>*, double, int*);
template void argmax_rows<float>(const MatT<float>&, int*);
template void argmax_rows<double>(const MatT<double>&, int*);

}  // namespace gift

// Softmax cross-entropy (against a long-double reference and finite differences, in float and
// double) and the check of labelled data against a network.
#include "gift/train/loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "../test_util.h"
#include "gift/core/rng.h"

namespace gift {
namespace {

Architecture arch(const std::string& widths) {
  return Architecture::from_string(widths, Activation::kRelu, 1.0);
}

TEST(SoftmaxXent, MatchesTheDefinition) {
  MatT<double> logits(2, 3);
  logits << 1, 2, 3, 0, 0, 0;
  const int labels[2] = {2, 0};
  MatT<double> d;
  int correct = 0;
  const double loss = softmax_xent<double>(logits, labels, &d, 1.0, &correct);
  const double z = std::exp(1) + std::exp(2) + std::exp(3);
  EXPECT_NEAR(loss, (std::log(z) - 3) + std::log(3.0), 1e-12);
  EXPECT_EQ(correct, 2);  // row 2 ties: the lowest index (0) wins
  EXPECT_NEAR(d(0, 2), std::exp(3) / z - 1, 1e-12);
  EXPECT_NEAR(d(1, 1), 1.0 / 3, 1e-12);
}

TEST(CheckLabelledData, AcceptsMatchingData) {
  const Mat x = Mat::Zero(3, 4);
  EXPECT_NO_THROW(check_labelled_data(arch("4-5-10"), x, {0, 9, 3}, "set"));
}

TEST(CheckLabelledData, RefusesLabelsBeyondTheOutputs) {
  const Mat x = Mat::Zero(3, 4);
  EXPECT_INPUT_ERROR(check_labelled_data(arch("4-5-5"), x, {0, 9, 3}, "training set"),
                     "training set", "label 9", "10 outputs", "has 5");
  EXPECT_INPUT_ERROR(check_labelled_data(arch("4-5-10"), x, {0, -1, 3}, "set"),
                     "negative label -1");
}

TEST(CheckLabelledData, RefusesShapeMismatches) {
  EXPECT_INPUT_ERROR(check_labelled_data(arch("4-10"), Mat::Zero(3, 5), {0, 1, 2}, "test set"),
                     "test set", "5 pixels", "expects 4");
  EXPECT_INPUT_ERROR(check_labelled_data(arch("4-10"), Mat::Zero(3, 4), {0, 1}, "set"),
                     "3 images but 2 labels");
  EXPECT_INPUT_ERROR(check_labelled_data(arch("4-10"), Mat::Zero(0, 4), {}, "set"), "no images");
}

// B x C logits: seeded normals times `spread`, plus `shift` (softmax ignores a common shift).
template <class T>
MatT<T> random_logits(int B, int C, double spread, double shift, uint32_t stream) {
  std::vector<double> z(static_cast<size_t>(B) * C);
  fill_normal(z.data(), z.size(), {3, Purpose::kTest, stream, 0, 0});
  MatT<T> m(B, C);
  for (int i = 0; i < B * C; ++i) m.data()[i] = static_cast<T>(shift + spread * z[i]);
  return m;
}

std::vector<int> labels_for(int B, int C) {
  std::vector<int> y(static_cast<size_t>(B));
  for (int r = 0; r < B; ++r) y[static_cast<size_t>(r)] = (7 * r + 3) % C;
  return y;
}

// The definition in long double: per row log(sum exp(l)) - l_y, and softmax - onehot.
template <class T>
long double reference_loss(const MatT<T>& logits, const std::vector<int>& y, MatT<double>* d) {
  long double total = 0;
  d->resize(logits.rows(), logits.cols());
  for (Eigen::Index r = 0; r < logits.rows(); ++r) {
    long double mx = logits(r, 0);
    for (Eigen::Index c = 1; c < logits.cols(); ++c) mx = std::max<long double>(mx, logits(r, c));
    long double sum = 0;
    for (Eigen::Index c = 0; c < logits.cols(); ++c)
      sum += std::exp((long double)logits(r, c) - mx);
    total += std::log(sum) + mx - logits(r, y[static_cast<size_t>(r)]);
    for (Eigen::Index c = 0; c < logits.cols(); ++c) {
      (*d)(r, c) = static_cast<double>(std::exp((long double)logits(r, c) - mx) / sum -
                                       (c == y[static_cast<size_t>(r)] ? 1 : 0));
    }
  }
  return total;
}

template <class T>
void expect_matches_reference(double spread, double shift, double tol) {
  const int B = 37, C = 10;
  const MatT<T> logits = random_logits<T>(B, C, spread, shift, 1);
  const std::vector<int> y = labels_for(B, C);
  MatT<double> d_ref;
  const long double ref = reference_loss(logits, y, &d_ref);
  MatT<T> d;
  int correct = 0;
  const T scale = static_cast<T>(0.25);
  const double loss = softmax_xent<T>(logits, y.data(), &d, scale, &correct);
  EXPECT_NEAR(loss, static_cast<double>(ref), tol * B * (1 + std::abs(static_cast<double>(ref))));
  ASSERT_EQ(d.rows(), B);
  ASSERT_EQ(d.cols(), C);
  for (Eigen::Index i = 0; i < d.size(); ++i) {
    EXPECT_NEAR(d.data()[i], 0.25 * d_ref.data()[i], tol) << "dlogit " << i;
  }
  std::vector<int> arg(static_cast<size_t>(B));
  argmax_rows<T>(logits, arg.data());
  int expected_correct = 0;
  for (int r = 0; r < B; ++r)
    expected_correct += arg[static_cast<size_t>(r)] == y[static_cast<size_t>(r)];
  EXPECT_EQ(correct, expected_correct);
}

TEST(SoftmaxXent, MatchesALongDoubleReference) {
  expect_matches_reference<double>(1.0, 0.0, 1e-13);
  expect_matches_reference<double>(30.0, 0.0, 1e-12);  // saturated rows
  expect_matches_reference<double>(2.0, 1e4, 1e-11);   // exp(1e4) overflows without the shift
  // Float logits: the difference to the row's maximum is taken in float, so the error is a
  // float rounding of a logit difference, times the number of classes.
  expect_matches_reference<float>(1.0, 0.0, 1e-6);
  expect_matches_reference<float>(30.0, 0.0, 2e-5);
  expect_matches_reference<float>(2.0, 1e3, 1e-4);
}

TEST(SoftmaxXent, GradientMatchesFiniteDifferences) {
  const int B = 5, C = 7;
  const MatT<double> logits = random_logits<double>(B, C, 2.0, 0.0, 2);
  const std::vector<int> y = labels_for(B, C);
  const double scale = 1.0 / B;
  MatT<double> d;
  softmax_xent<double>(logits, y.data(), &d, scale, nullptr);
  const double h = 1e-6;
  for (Eigen::Index i = 0; i < logits.size(); ++i) {
    MatT<double> p = logits, m = logits;
    p.data()[i] += h;
    m.data()[i] -= h;
    const double fd = scale *
                      (softmax_xent<double>(p, y.data(), nullptr, 1.0, nullptr) -
                       softmax_xent<double>(m, y.data(), nullptr, 1.0, nullptr)) /
                      (2 * h);
    EXPECT_NEAR(d.data()[i], fd, 1e-8) << "logit " << i;
  }
  // Each row of the gradient sums to zero (softmax sums to one, minus the one-hot).
  for (Eigen::Index r = 0; r < B; ++r) EXPECT_NEAR(d.row(r).sum(), 0, 1e-15);
}

TEST(SoftmaxXent, SumsOverRowBlocksAddUp) {
  const int B = 12, C = 4;
  const MatT<float> logits = random_logits<float>(B, C, 3.0, 0.0, 4);
  const std::vector<int> y = labels_for(B, C);
  const double whole = softmax_xent<float>(logits, y.data(), nullptr, 1.0f, nullptr);
  const MatT<float> top = logits.topRows(5), bottom = logits.bottomRows(B - 5);
  const double parts = softmax_xent<float>(top, y.data(), nullptr, 1.0f, nullptr) +
                       softmax_xent<float>(bottom, y.data() + 5, nullptr, 1.0f, nullptr);
  EXPECT_NEAR(whole, parts, 1e-13 * whole);
}

TEST(ArgmaxRows, LowestIndexWinsTies) {
  MatT<float> l(3, 4);
  l << 1, 3, 3, 0,     //
      -1, -1, -1, -1,  //
      0, 0, 0, 2;
  int out[3];
  argmax_rows<float>(l, out);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[1], 0);
  EXPECT_EQ(out[2], 3);
}

}  // namespace
}  // namespace gift

// Softmax cross-entropy and the check of labelled data against a network.
#include "gift/train/loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "../data/idx_test_util.h"

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

}  // namespace
}  // namespace gift

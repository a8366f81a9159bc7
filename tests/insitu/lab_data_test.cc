// The lab's labelled data: rows gathered by index, the seeded calibration subset and lab split
// (disjoint, the same for the same seed, another for another), and their size checks.
#include "gift/insitu/lab_data.h"

#include <gtest/gtest.h>

#include "gift/core/error.h"

namespace gift {
namespace {

// n distinct rows: row i holds i, i + 0.5, i + 0.25; label i % 7.
data::Dataset numbered(int n) {
  data::Dataset s;
  s.images.resize(n, 3);
  for (int i = 0; i < n; ++i) {
    s.images.row(i) << static_cast<float>(i), i + 0.5f, i + 0.25f;
    s.labels.push_back(i % 7);
  }
  return s;
}

TEST(LabData, GatherRowsTakesTheRowsInTheOrderGiven) {
  const data::Dataset s = numbered(10);
  const std::vector<uint32_t> rows = {7, 2, 2, 9};
  Mat x;
  std::vector<int> y;
  gather_rows(s.images, s.labels, rows.data(), rows.size(), x, y);
  ASSERT_EQ(x.rows(), 4);
  ASSERT_EQ(x.cols(), 3);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_TRUE(x.row(static_cast<Eigen::Index>(i)) == s.images.row(rows[i])) << i;
    EXPECT_EQ(y[i], s.labels[rows[i]]) << i;
  }
  gather_rows(s.images, s.labels, rows.data(), 0, x, y);
  EXPECT_EQ(x.rows(), 0);
  EXPECT_TRUE(y.empty());
}

// The lab's sets are data sets like the one they come from: same classes and image shape.
TEST(LabData, SplitsKeepTheDataSetsClassesAndShape) {
  data::Dataset s = numbered(30);
  s.num_classes = 7;
  s.rows = 1;
  s.cols = 3;
  const LabSplit a = lab_split(s, 10, 1);
  const data::Dataset sub = calibration_subset(s, 5, 2);
  for (const data::Dataset* c : {&a.calib, &a.eval, &sub}) {
    EXPECT_EQ(c->num_classes, 7);
    EXPECT_EQ(c->rows, 1);
    EXPECT_EQ(c->cols, 3);
  }
}

TEST(LabData, CalibrationSubsetIsSeededAndDistinct) {
  const data::Dataset train = numbered(40);
  const data::Dataset a = calibration_subset(train, 15, 3), b = calibration_subset(train, 15, 3),
                      c = calibration_subset(train, 15, 4);
  ASSERT_EQ(a.labels.size(), 15u);
  EXPECT_TRUE(a.images == b.images);
  EXPECT_FALSE(a.images == c.images);
  for (Eigen::Index i = 0; i < a.images.rows(); ++i) {
    const int row = static_cast<int>(a.images(i, 0));
    EXPECT_TRUE(a.images.row(i) == train.images.row(row)) << i;
    EXPECT_EQ(a.labels[static_cast<size_t>(i)], train.labels[static_cast<size_t>(row)]) << i;
    for (Eigen::Index j = 0; j < i; ++j) EXPECT_NE(a.images(j, 0), a.images(i, 0));
  }
  EXPECT_THROW(calibration_subset(train, 0, 1), InputError);
  EXPECT_NO_THROW(calibration_subset(train, 40, 1));
  EXPECT_THROW(calibration_subset(train, 41, 1), InputError);
}

TEST(LabData, LabSplitIsDisjointAndSeeded) {
  const data::Dataset test = numbered(50);
  const LabSplit a = lab_split(test, 20, 3), b = lab_split(test, 20, 3), c = lab_split(test, 20, 4);
  ASSERT_EQ(a.calib.labels.size(), 20u);
  ASSERT_EQ(a.eval.labels.size(), 30u);
  EXPECT_TRUE(a.calib.images == b.calib.images);
  EXPECT_TRUE(a.eval.images == b.eval.images);
  EXPECT_FALSE(a.calib.images == c.calib.images);
  // Every test image is in exactly one part, with its label.
  std::vector<int> found(50, 0);
  for (const data::Dataset* s : {&a.calib, &a.eval}) {
    for (Eigen::Index j = 0; j < s->images.rows(); ++j) {
      const int row = static_cast<int>(s->images(j, 0));
      EXPECT_TRUE(s->images.row(j) == test.images.row(row));
      EXPECT_EQ(s->labels[static_cast<size_t>(j)], test.labels[static_cast<size_t>(row)]);
      ++found[static_cast<size_t>(row)];
    }
  }
  for (int i = 0; i < 50; ++i) EXPECT_EQ(found[static_cast<size_t>(i)], 1) << i;
  EXPECT_THROW(lab_split(test, 0, 1), InputError);
  EXPECT_THROW(lab_split(test, 50, 1), InputError);
}

}  // namespace
}  // namespace gift

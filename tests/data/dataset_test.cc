#include "gift/data/dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../test_util.h"
#include "idx_test_util.h"

namespace gift::data {
namespace {

using test::TempDir;
using test::write_bytes;
using test_util::iota_bytes;
using test_util::make_idx;
using test_util::write_gzip;

IdxArray ubyte_array(std::vector<uint32_t> dims, std::vector<uint8_t> data) {
  return IdxArray{kIdxUbyte, std::move(dims), std::move(data)};
}

// 3 images of 2 x 2 pixels; image i holds pixels {0, 255, 51 * i, i}. Labels 7, 0, 9.
IdxArray small_images() {
  return ubyte_array({3, 2, 2}, {0, 255, 0, 0, 0, 255, 51, 1, 0, 255, 102, 2});
}
IdxArray small_labels() { return ubyte_array({3}, {7, 0, 9}); }

// Writes a small split (images/labels as above) into dir; `suffix` is "" or ".gz".
void write_split(const TempDir& t, const std::string& prefix, const std::string& suffix,
                 uint8_t first_label = 7) {
  const std::vector<uint8_t> images =
      make_idx(kIdxUbyte, {3, 2, 2}, {0, 255, 0, 0, 0, 255, 51, 1, 0, 255, 102, 2});
  const std::vector<uint8_t> labels = make_idx(kIdxUbyte, {3}, {first_label, 0, 9});
  auto write = suffix.empty() ? write_bytes : write_gzip;
  write(t.path(prefix + "-images-idx3-ubyte" + suffix), images);
  write(t.path(prefix + "-labels-idx1-ubyte" + suffix), labels);
}

// --- dataset_from_idx ----------------------------------------------------------------------------

TEST(DatasetFromIdx, ScalesPixelsAndKeepsLayout) {
  const Dataset d = dataset_from_idx(small_images(), small_labels(), 10, "small");
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.rows, 2);
  EXPECT_EQ(d.cols, 2);
  EXPECT_EQ(d.num_classes, 10);
  ASSERT_EQ(d.images.rows(), 3);
  ASSERT_EQ(d.images.cols(), 4);
  EXPECT_EQ(d.labels, (std::vector<int>{7, 0, 9}));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(d.images(i, 0), 0.0f);  // exact
    EXPECT_EQ(d.images(i, 1), 1.0f);  // exact
    EXPECT_FLOAT_EQ(d.images(i, 2), 51.0f * i / 255.0f);
    EXPECT_FLOAT_EQ(d.images(i, 3), i / 255.0f);
  }
  // Pixel (r, c) of sample i sits at images(i, r * cols + c).
  const Dataset e =
      dataset_from_idx(ubyte_array({1, 2, 3}, iota_bytes(6)), ubyte_array({1}, {0}), 10, "layout");
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(e.images(0, r * 3 + c), (r * 3 + c) / 255.0f);
  }
}

TEST(DatasetFromIdx, LabelJustBelowNumClassesIsAccepted) {
  EXPECT_EQ(dataset_from_idx(small_images(), small_labels(), 10, "x").labels[2], 9);
}

TEST(DatasetFromIdx, LabelOutOfRange) {
  EXPECT_INPUT_ERROR(dataset_from_idx(small_images(), ubyte_array({3}, {7, 10, 9}), 10, "lbl"),
                     "lbl", "labels below 10", "found 10 at index 1");
  EXPECT_INPUT_ERROR(dataset_from_idx(small_images(), small_labels(), 9, "lbl"), "lbl",
                     "labels below 9", "found 9 at index 2");
}

TEST(DatasetFromIdx, LabelCountDiffersFromImageCount) {
  EXPECT_INPUT_ERROR(dataset_from_idx(small_images(), ubyte_array({2}, {1, 2}), 10, "cnt"), "cnt",
                     "as many labels as images (3)", "found 2");
}

TEST(DatasetFromIdx, ImagesWithTwoDimensions) {
  EXPECT_INPUT_ERROR(
      dataset_from_idx(ubyte_array({3, 4}, iota_bytes(12)), small_labels(), 10, "img2"), "img2",
      "images with 3 dimensions", "found 2");
}

TEST(DatasetFromIdx, ImagesOfWrongElementType) {
  const IdxArray floats{kIdxFloat, {1, 1, 1}, {0, 0, 0, 0}};
  EXPECT_INPUT_ERROR(dataset_from_idx(floats, ubyte_array({1}, {0}), 10, "imgf"), "imgf",
                     "images of type ubyte", "found float");
}

TEST(DatasetFromIdx, LabelsOfWrongTypeOrShape) {
  const IdxArray ints{kIdxInt, {3}, iota_bytes(12)};
  EXPECT_INPUT_ERROR(dataset_from_idx(small_images(), ints, 10, "li"), "li", "labels of type ubyte",
                     "found int");
  EXPECT_INPUT_ERROR(dataset_from_idx(small_images(), ubyte_array({3, 1}, {1, 2, 3}), 10, "l2"),
                     "l2", "labels with 1 dimension", "found 2");
}

TEST(DatasetFromIdx, BadNumClasses) {
  EXPECT_INPUT_ERROR(dataset_from_idx(small_images(), small_labels(), 0, "nc"), "nc",
                     "num_classes >= 1", "found 0");
}

TEST(DatasetFromIdx, HandBuiltArrayWithInconsistentData) {
  EXPECT_INPUT_ERROR(
      dataset_from_idx(ubyte_array({3, 2, 2}, iota_bytes(11)), small_labels(), 10, "hand"), "hand",
      "found 11");
}

// --- Loading from a directory -------------------------------------------------------------------

TEST(LoadDataset, RawFiles) {
  TempDir t;
  write_split(t, "train", "");
  const Dataset d = load_mnist(t.dir(), Split::kTrain);
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.labels, (std::vector<int>{7, 0, 9}));
  EXPECT_EQ(d.images(1, 1), 1.0f);
  EXPECT_FLOAT_EQ(d.images(2, 2), 102.0f / 255.0f);
}

TEST(LoadDataset, GzipFallbackAndTestSplit) {
  TempDir t;
  write_split(t, "t10k", ".gz");
  const Dataset d = load_fashion_mnist(t.dir(), Split::kTest);
  EXPECT_EQ(d.labels, (std::vector<int>{7, 0, 9}));
  EXPECT_EQ(d.rows, 2);
  EXPECT_EQ(d.cols, 2);
}

TEST(LoadDataset, RawPreferredOverGzip) {
  TempDir t;
  write_split(t, "train", "", /*first_label=*/1);
  write_split(t, "train", ".gz", /*first_label=*/2);
  EXPECT_EQ(load_mnist(t.dir(), Split::kTrain).labels[0], 1);
}

TEST(LoadDataset, DispatchesOnName) {
  TempDir t;
  write_split(t, "train", "");
  EXPECT_EQ(load_dataset("mnist", t.dir(), Split::kTrain).size(), 3u);
  EXPECT_EQ(load_dataset("fashion-mnist", t.dir(), Split::kTrain).size(), 3u);
  EXPECT_INPUT_ERROR(load_dataset("cifar10", t.dir(), Split::kTrain), "\"cifar10\"", "mnist",
                     "fashion-mnist");
}

TEST(LoadDataset, ALimitKeepsTheFirstSamples) {
  for (const char* suffix : {"", ".gz"}) {
    TempDir t;
    write_split(t, "train", suffix);
    const Dataset all = load_mnist(t.dir(), Split::kTrain);
    const Dataset two = load_dataset("mnist", t.dir(), Split::kTrain, 2);
    EXPECT_EQ(two.labels, (std::vector<int>{7, 0})) << suffix;
    EXPECT_EQ(two.images, all.images.topRows(2)) << suffix;
    EXPECT_EQ(load_mnist(t.dir(), Split::kTrain, 3).labels, all.labels) << suffix;
    EXPECT_EQ(load_fashion_mnist(t.dir(), Split::kTrain, 9).size(), 3u) << suffix;
  }
}

// The counts of the two files must agree even when a limit keeps fewer than either.
TEST(LoadDataset, ALimitStillChecksTheCounts) {
  TempDir t;
  write_bytes(t.path("train-images-idx3-ubyte"), make_idx(kIdxUbyte, {3, 1, 1}, {0, 1, 2}));
  write_bytes(t.path("train-labels-idx1-ubyte"), make_idx(kIdxUbyte, {4}, {0, 1, 2, 3}));
  EXPECT_INPUT_ERROR(load_mnist(t.dir(), Split::kTrain, 2), "as many labels as images (3)",
                     "found 4");
}

TEST(LoadDataset, MissingFileNamesDirectoryAndFile) {
  TempDir t;
  write_bytes(t.path("train-images-idx3-ubyte"), make_idx(kIdxUbyte, {1, 1, 1}, {0}));
  EXPECT_INPUT_ERROR(load_mnist(t.dir(), Split::kTrain), t.dir(), "train-labels-idx1-ubyte",
                     "train-labels-idx1-ubyte.gz", "found neither");
  EXPECT_INPUT_ERROR(load_mnist(t.dir(), Split::kTest), t.dir(), "t10k-images-idx3-ubyte",
                     "t10k-images-idx3-ubyte.gz");
}

TEST(LoadDataset, MissingDirectory) {
  TempDir t;
  const std::string dir = t.path("no-such-dir");
  EXPECT_INPUT_ERROR(load_mnist(dir, Split::kTrain), dir, "train-images-idx3-ubyte",
                     "no such directory");
}

TEST(LoadDataset, MalformedFileIsNamed) {
  TempDir t;
  write_split(t, "train", "");
  const std::string labels = t.path("train-labels-idx1-ubyte");
  write_bytes(labels, make_idx(kIdxUbyte, {3}, {1, 2}));  // one byte short
  EXPECT_INPUT_ERROR(load_mnist(t.dir(), Split::kTrain), labels, "1 byte short");
}

TEST(LoadDataset, CountMismatchNamesBothFiles) {
  TempDir t;
  write_split(t, "train", "");
  write_bytes(t.path("train-labels-idx1-ubyte"), make_idx(kIdxUbyte, {2}, {1, 2}));
  EXPECT_INPUT_ERROR(load_mnist(t.dir(), Split::kTrain), t.path("train-images-idx3-ubyte"),
                     t.path("train-labels-idx1-ubyte"), "as many labels as images");
}

TEST(LoadDataset, LabelOutOfRangeInFile) {
  TempDir t;
  write_split(t, "train", "", /*first_label=*/10);
  EXPECT_INPUT_ERROR(load_mnist(t.dir(), Split::kTrain), t.path("train-labels-idx1-ubyte"),
                     "labels below 10", "found 10 at index 0");
}

// --- subset -------------------------------------------------------------------------------------

TEST(Subset, CopiesTheRequestedRows) {
  const Dataset d = dataset_from_idx(small_images(), small_labels(), 10, "s");
  const Dataset s = subset(d, 1, 2);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.labels, (std::vector<int>{0, 9}));
  EXPECT_EQ(s.rows, 2);
  EXPECT_EQ(s.cols, 2);
  EXPECT_EQ(s.num_classes, 10);
  ASSERT_EQ(s.images.rows(), 2);
  EXPECT_EQ(s.images.row(0), d.images.row(1));
  EXPECT_EQ(s.images.row(1), d.images.row(2));
  EXPECT_EQ(subset(d, 3, 0).size(), 0u);
  EXPECT_EQ(subset(d, 0, 3).images, d.images);
}

TEST(Subset, OutOfRange) {
  const Dataset d = dataset_from_idx(small_images(), small_labels(), 10, "s");
  EXPECT_INPUT_ERROR(subset(d, 2, 2), "subset", "<= 3", "begin 2 + count 2");
  EXPECT_INPUT_ERROR(subset(d, 4, 0), "subset", "begin 4");
  EXPECT_INPUT_ERROR(subset(d, std::numeric_limits<size_t>::max(), 2), "subset");
  EXPECT_INPUT_ERROR(subset(d, 1, std::numeric_limits<size_t>::max()), "subset");
}

// The registry is the one list of names: every entry loads, names are distinct, and the checks
// and prose read from it.
TEST(DatasetRegistry, EveryEntryIsNamedOnceAndLoads) {
  TempDir t;
  write_split(t, "train", "");
  std::vector<std::string> seen;
  for (const DataSetInfo& d : dataset_registry()) {
    EXPECT_EQ(std::count(seen.begin(), seen.end(), d.name), 0) << d.name;
    seen.push_back(d.name);
    EXPECT_EQ(find_dataset(d.name), &d);
    EXPECT_EQ(d.load(t.dir(), Split::kTrain, 0).labels, (std::vector<int>{7, 0, 9})) << d.name;
    EXPECT_EQ(d.load(t.dir(), Split::kTrain, 2).labels, (std::vector<int>{7, 0})) << d.name;
    EXPECT_NO_THROW(check_dataset_name(d.name, "test"));
    EXPECT_EQ(default_data_dir(d.name), std::string("data/") + d.name);
  }
  EXPECT_EQ(seen, dataset_names());
  EXPECT_EQ(dataset_list(), "mnist or fashion-mnist");
  EXPECT_EQ(find_dataset("cifar10"), nullptr);
  EXPECT_INPUT_ERROR(check_dataset_name("cifar10", "sweep"),
                     "sweep: dataset must be mnist or fashion-mnist, found 'cifar10'");
}

}  // namespace
}  // namespace gift::data

// Labelled image data sets (MNIST, Fashion-MNIST) held in memory.
//
// Shapes (legend in core/matrix.h): images N x (rows*cols), one sample per ROW, pixels
// row-major within a sample; labels N.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gift/core/matrix.h"
#include "gift/data/idx.h"

namespace gift::data {

// Invariants (held by everything this header returns): images.rows() == labels.size(),
// images.cols() == rows * cols, pixels in [0, 1], 0 <= labels[i] < num_classes.
struct Dataset {
  Mat images;               // N x (rows*cols), float in [0, 1]
  std::vector<int> labels;  // N, class indices
  int num_classes = 10;
  int rows = 0, cols = 0;  // image height and width in pixels

  size_t size() const { return labels.size(); }  // N
};

enum class Split { kTrain, kTest };

// Builds a data set from an images array (ubyte, N x rows x cols) and a labels array (ubyte, N),
// scaling pixels by 1/255 (so 0 -> 0.0f and 255 -> 1.0f exactly).
// Requires: num_classes >= 1. `name` (e.g. the two file paths) labels error messages.
// Throws InputError if either array has the wrong type or number of dimensions, the counts
// differ, or a label is >= num_classes.
Dataset dataset_from_idx(const IdxArray& images, const IdxArray& labels, int num_classes,
                         const std::string& name);

// Loads a split from `dir`, which must hold train-images-idx3-ubyte, train-labels-idx1-ubyte
// (kTrain) or t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (kTest), each raw or with a .gz
// suffix (raw preferred when both exist). `name` labels error messages. 10 classes.
// limit > 0 keeps only the first `limit` samples (all if the split has fewer), and decodes only
// those: read_idx's max_rows (the files are still checked whole, and must agree in count).
// Throws InputError naming the directory and the expected file names if a file is missing, or
// any error of read_idx / dataset_from_idx.
Dataset load_idx_dataset(const std::string& dir, Split split, const std::string& name,
                         size_t limit = 0);

// load_idx_dataset for each data set (both use the same file names).
Dataset load_mnist(const std::string& dir, Split split, size_t limit = 0);
Dataset load_fashion_mnist(const std::string& dir, Split split, size_t limit = 0);

// The registry of data sets: each is declared once, in kDataSets (src/data/dataset.cc), and
// everything that needs a data set's name reads it from there: load_dataset, the CLI's
// --dataset checks and help, the sweep and frontier configs. Adding a data set: its entry there
// and its fetch step in scripts/fetch-data.sh (which puts it in data/<name>).
struct DataSetInfo {
  const char* name;   // what --dataset, configs and result rows call it: "mnist"
  const char* title;  // what error messages call it: "MNIST"
  Dataset (*load)(const std::string& dir, Split split, size_t limit);  // limit 0 = all
};
const std::vector<DataSetInfo>& dataset_registry();
// The entry named `name`, or nullptr.
const DataSetInfo* find_dataset(const std::string& name);
// The names in registry order.
std::vector<std::string> dataset_names();
// The names as prose, "mnist or fashion-mnist" (help texts, error messages).
std::string dataset_list();
// Where scripts/fetch-data.sh puts data set `name`: data/<name> (relative to the repository).
std::string default_data_dir(const std::string& name);
// Throws InputError("<owner>: dataset must be mnist or fashion-mnist, found '<name>'") unless
// `name` is in the registry.
void check_dataset_name(const std::string& name, const std::string& owner);

// Loads data set `name` (an entry of the registry), its first `limit` samples if limit > 0
// (decoding only those); throws InputError for any other name.
Dataset load_dataset(const std::string& name, const std::string& dir, Split split,
                     size_t limit = 0);

// Samples [begin, begin + count) of d, as a copy (count may be 0).
// Throws InputError if begin + count > d.size().
Dataset subset(const Dataset& d, size_t begin, size_t count);

// The samples rows[0 .. n) of d, in that order, as a copy (gather_rows, core/matrix.h).
// Requires each rows[i] < d.size().
Dataset gather(const Dataset& d, const uint32_t* rows, size_t n);

}  // namespace gift::data

#include "gift/data/dataset.h"

#include <array>
#include <climits>
#include <filesystem>

#include "gift/core/error.h"
#include "gift/core/parse.h"

namespace gift::data {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw InputError(name + ": " + what);
}

void check_array(const IdxArray& a, size_t ndims, const char* what, const std::string& name) {
  if (a.type_code != kIdxUbyte) {
    fail(name, std::string("expected ") + what + " of type ubyte (0x08), found " +
                   idx_type_name(a.type_code));
  }
  if (a.dims.size() != ndims) {
    fail(name, std::string("expected ") + what + " with " + std::to_string(ndims) +
                   (ndims == 1 ? " dimension" : " dimensions") + ", found " +
                   std::to_string(a.dims.size()));
  }
}

// dir/file if it is a regular file, else dir/file.gz if it is, else "".
std::string find_file(const std::string& dir, const std::string& file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const fs::path& p : {fs::path(dir) / file, fs::path(dir) / (file + ".gz")}) {
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return "";
}

}  // namespace

Dataset dataset_from_idx(const IdxArray& images, const IdxArray& labels, int num_classes,
                         const std::string& name) {
  if (num_classes < 1)
    fail(name, "expected num_classes >= 1, found " + std::to_string(num_classes));
  check_array(images, 3, "images", name);
  check_array(labels, 1, "labels", name);
  // Files read with a row limit keep their full counts in file_rows: they must agree too.
  if (images.file_rows != 0 && labels.file_rows != 0 && images.file_rows != labels.file_rows) {
    fail(name, "expected as many labels as images (" + std::to_string(images.file_rows) +
                   "), found " + std::to_string(labels.file_rows));
  }
  const size_t n = images.dims[0];
  if (labels.dims[0] != n) {
    fail(name, "expected as many labels as images (" + std::to_string(n) + "), found " +
                   std::to_string(labels.dims[0]));
  }
  if (images.dims[1] > INT_MAX || images.dims[2] > INT_MAX) {
    fail(name, "expected image sides below 2^31, found " + std::to_string(images.dims[1]) + " x " +
                   std::to_string(images.dims[2]));
  }
  const size_t pixels = size_t{images.dims[1]} * images.dims[2];
  if ((pixels != 0 && n > kIdxMaxDataBytes / pixels) || images.data.size() != n * pixels ||
      labels.data.size() != n) {
    fail(name, "expected IdxArray data sizes matching their dims (" + std::to_string(n * pixels) +
                   " and " + std::to_string(n) + " bytes), found " +
                   std::to_string(images.data.size()) + " and " +
                   std::to_string(labels.data.size()));
  }

  Dataset d;
  d.num_classes = num_classes;
  d.rows = static_cast<int>(images.dims[1]);
  d.cols = static_cast<int>(images.dims[2]);
  d.labels.resize(n);
  for (size_t i = 0; i < n; ++i) {
    d.labels[i] = labels.data[i];
    if (d.labels[i] >= num_classes) {
      fail(name, "expected labels below " + std::to_string(num_classes) + ", found " +
                     std::to_string(d.labels[i]) + " at index " + std::to_string(i));
    }
  }
  std::array<float, 256> scale;  // v / 255.0f is exact at the ends: 0 -> 0, 255 -> 1
  for (int v = 0; v < 256; ++v) scale[v] = static_cast<float>(v) / 255.0f;
  d.images.resize(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(pixels));
  float* out = d.images.data();
  for (size_t i = 0; i < images.data.size(); ++i) out[i] = scale[images.data[i]];
  return d;
}

Dataset load_idx_dataset(const std::string& dir, Split split, const std::string& name,
                         size_t limit) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    fail(dir, "expected a directory holding the " + name + " files " + prefix +
                  "-images-idx3-ubyte and " + prefix +
                  "-labels-idx1-ubyte (or .gz), found no such directory");
  }
  std::string paths[2];
  const std::string files[2] = {prefix + "-images-idx3-ubyte", prefix + "-labels-idx1-ubyte"};
  for (int i = 0; i < 2; ++i) {
    paths[i] = find_file(dir, files[i]);
    if (paths[i].empty()) {
      fail(dir, "expected " + name + " file " + files[i] + " or " + files[i] +
                    ".gz in this directory, found neither");
    }
  }
  return dataset_from_idx(read_idx(paths[0], limit), read_idx(paths[1], limit), 10,
                          name + " (" + paths[0] + ", " + paths[1] + ")");
}

Dataset load_mnist(const std::string& dir, Split split, size_t limit) {
  return load_idx_dataset(dir, split, "MNIST", limit);
}

Dataset load_fashion_mnist(const std::string& dir, Split split, size_t limit) {
  return load_idx_dataset(dir, split, "Fashion-MNIST", limit);
}

const std::vector<DataSetInfo>& dataset_registry() {
  static const std::vector<DataSetInfo> kDataSets = {
      {"mnist", "MNIST", load_mnist},
      {"fashion-mnist", "Fashion-MNIST", load_fashion_mnist},
  };
  return kDataSets;
}

const DataSetInfo* find_dataset(const std::string& name) {
  for (const DataSetInfo& d : dataset_registry()) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const DataSetInfo& d : dataset_registry()) names.push_back(d.name);
  return names;
}

std::string dataset_list() { return join_names(dataset_names(), " or "); }

std::string default_data_dir(const std::string& name) { return "data/" + name; }

void check_dataset_name(const std::string& name, const std::string& owner) {
  if (find_dataset(name) == nullptr) {
    throw InputError(owner + ": dataset must be " + dataset_list() + ", found '" + name + "'");
  }
}

Dataset load_dataset(const std::string& name, const std::string& dir, Split split, size_t limit) {
  if (const DataSetInfo* d = find_dataset(name)) return d->load(dir, split, limit);
  std::string expected;
  for (const std::string& n : dataset_names()) {
    expected += (expected.empty() ? "\"" : " or \"") + n + "\"";
  }
  throw InputError("data set name: expected " + expected + ", found \"" + name + "\"");
}

Dataset subset(const Dataset& d, size_t begin, size_t count) {
  if (begin > d.size() || count > d.size() - begin) {
    throw InputError("subset: expected begin + count <= " + std::to_string(d.size()) +
                     " samples, found begin " + std::to_string(begin) + " + count " +
                     std::to_string(count));
  }
  Dataset s;
  s.num_classes = d.num_classes;
  s.rows = d.rows;
  s.cols = d.cols;
  s.images =
      d.images.middleRows(static_cast<Eigen::Index>(begin), static_cast<Eigen::Index>(count));
  s.labels.assign(d.labels.begin() + begin, d.labels.begin() + begin + count);
  return s;
}

Dataset gather(const Dataset& d, const uint32_t* rows, size_t n) {
  Dataset s;
  s.num_classes = d.num_classes;
  s.rows = d.rows;
  s.cols = d.cols;
  gather_rows(d.images, d.labels, rows, n, s.images, s.labels);
  return s;
}

}  // namespace gift::data

// Helpers shared by the data tests: temporary directories, IDX/gzip writers, and a check that a
// call throws gift::InputError with a one-line message holding given parts.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

#include "gift/core/error.h"

namespace gift::data::test_util {

// A fresh directory under the system temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gift_data_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    dir_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

// The bytes of an IDX file: magic 00 00 type ndims, big-endian sizes, then `data` as given.
inline std::vector<uint8_t> make_idx(uint8_t type, const std::vector<uint32_t>& dims,
                                     const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(d >> shift));
  }
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// 0, 1, 2, ... (mod 256), n bytes.
inline std::vector<uint8_t> iota_bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i);
  return v;
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

inline void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (f == nullptr) {
    ADD_FAILURE() << "gzopen failed for " << path;
    return;
  }
  if (!bytes.empty() && gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) <= 0) {
    ADD_FAILURE() << "gzwrite failed for " << path;
  }
  if (gzclose(f) != Z_OK) ADD_FAILURE() << "gzclose failed for " << path;
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs f; expects a gift::InputError whose what() is one line containing every part.
template <class F>
void expect_input_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    for (const std::string& p : parts) {
      EXPECT_NE(msg.find(p), std::string::npos) << "message lacks \"" << p << "\": " << msg;
    }
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected gift::InputError, got another exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "expected gift::InputError, nothing was thrown";
}

}  // namespace gift::data::test_util

// EXPECT_INPUT_ERROR(statement, "part", ...): statement throws gift::InputError whose one-line
// message contains each part. Failures report the statement.
#define EXPECT_INPUT_ERROR(statement, ...)                                                  \
  do {                                                                                      \
    SCOPED_TRACE(#statement);                                                               \
    ::gift::data::test_util::expect_input_error([&] { (void)(statement); }, {__VA_ARGS__}); \
  } while (0)

// IDX helpers for the tests: the bytes of an IDX file, and a gzip writer. (Temporary
// directories, file reading and writing and the error check are in tests/test_util.h.)
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../test_util.h"

namespace gift::data::test_util {

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

}  // namespace gift::data::test_util

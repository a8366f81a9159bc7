// The idx fuzz target's body: the bytes as an IDX file, raw (parse_idx) and as a whole
// file that may be gzip (parse_idx_file). Checks the guarantees of IdxArray on success.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "gift/core/error.h"
#include "gift/data/idx.h"

namespace gift::fuzz {

inline void check_idx(const data::IdxArray& a) {
  const size_t elem = data::idx_element_size(a.type_code);
  require(elem != 0, "known type code");
  require(!a.dims.empty() && a.dims.size() <= data::kIdxMaxDims, "1..kIdxMaxDims dimensions");
  uint64_t n = elem;
  for (uint32_t d : a.dims) {
    require(d > 0, "non-zero dimensions");
    n *= d;  // cannot overflow: the data is in memory
  }
  require(n == a.data.size() && n <= data::kIdxMaxDataBytes, "data size = prod(dims) * element");
}

// Returns whether parse_idx_file accepted the input.
inline bool idx_one_input(const uint8_t* data, size_t size) {
  bool raw_ok = false;
  try {
    check_idx(data::parse_idx(data, size, "fuzz-input"));
    raw_ok = true;
  } catch (const InputError&) {
  }
  try {
    const data::IdxArray a = data::parse_idx_file(data, size, "fuzz-input");
    check_idx(a);
    return true;
  } catch (const InputError&) {
    require(!raw_ok, "parse_idx_file accepts what parse_idx accepts");
  }
  return false;
}

}  // namespace gift::fuzz

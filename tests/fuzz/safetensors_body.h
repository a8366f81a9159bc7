// The safetensors fuzz target's body: the bytes as a safetensors container
// (parse_safetensors; what parses must write back and parse to the same tensors) and as a
// model checkpoint (parse_checkpoint, the bytes-level load_checkpoint).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_util.h"
#include "gift/core/error.h"
#include "gift/io/checkpoint.h"
#include "gift/io/safetensors.h"

namespace gift::fuzz {

inline bool same_values(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  }
  return true;
}

inline void check_round_trip(const io::TensorFile& f) {
  std::vector<uint8_t> bytes;
  try {
    bytes = io::serialize_safetensors(f);
  } catch (const InputError& e) {
    require(false, std::string("a parsed file serializes: ") + e.what());
  }
  const io::TensorFile g = io::parse_safetensors(bytes.data(), bytes.size(), "round-trip");
  require(g.metadata == f.metadata, "metadata survives a round trip");
  require(g.tensors.size() == f.tensors.size(), "tensor count survives a round trip");
  for (const auto& [name, t] : f.tensors) {
    const auto it = g.tensors.find(name);
    require(it != g.tensors.end(), "tensor names survive a round trip");
    const io::Tensor& u = it->second;
    require(u.dtype == t.dtype && u.shape == t.shape, "dtype and shape survive a round trip");
    require(same_values(u.values, t.values), "values survive a round trip");
    require(t.values.size() == io::element_count(t.shape), "values match the shape");
  }
}

// Returns whether parse_safetensors accepted the input.
inline bool safetensors_one_input(const uint8_t* data, size_t size) {
  bool accepted = false;
  try {
    check_round_trip(io::parse_safetensors(data, size, "fuzz-input"));
    accepted = true;
  } catch (const InputError&) {
  }
  try {
    const io::Checkpoint c = io::parse_checkpoint(data, size, "fuzz-input");
    require(c.net.all_finite(), "a loaded network is finite");
  } catch (const InputError&) {
  }
  return accepted;
}

}  // namespace gift::fuzz

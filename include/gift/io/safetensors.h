// A generic safetensors container: named dense tensors plus string metadata, in the Hugging Face
// safetensors layout, so Python (json + numpy) reads our files without our code. The byte layout
// and validation rules are in docs/checkpoint-format.md. Model checkpoints build on this.
//
// Layout: u64 little-endian N | N bytes of UTF-8 JSON header (space padded so N % 8 == 0 when we
// write) | data section: each tensor's raw little-endian values, row-major (C order), contiguous,
// in header-offset order, with no gaps or overlaps.
//
// Parsing is strict: anything the header promises must match the bytes exactly, or InputError is
// thrown with a one-line message naming the file, what was expected and what was found. NaN and
// infinite values are not errors here (see all_finite).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gift::io {

// Element type on disk. In memory values are always double.
enum class DType { kF32, kF64 };

// "F32" / "F64", the safetensors dtype names.
const char* dtype_name(DType dtype);

// One dense tensor. shape {} is a scalar (1 value); a zero extent gives 0 values.
// Invariant (checked by make_tensor and on serialize): values.size() == product(shape),
// every extent >= 0. values are row-major. For kF32, values read from a file are exact and values
// written are rounded to nearest float (finite values beyond the float range become +-inf).
struct Tensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<double> values;
};

// A whole container. The name "__metadata__" is reserved and cannot name a tensor.
struct TensorFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Builds a tensor, throwing InputError if an extent is negative or values.size() != product(shape).
Tensor make_tensor(DType dtype, std::vector<int64_t> shape, std::vector<double> values);

// Number of values product(shape) implies (1 for a scalar). Throws InputError on a negative
// extent or overflow.
size_t element_count(const std::vector<int64_t>& shape);

// True when no value is NaN or infinite.
bool all_finite(const Tensor& t);

// The file's bytes. Tensors are laid out F64 first, then F32 (so every tensor is aligned to its
// element size), by name within a dtype; "__metadata__" is written only when metadata is
// non-empty. Deterministic: equal TensorFiles give equal bytes.
// Throws InputError (naming the tensor) on an invalid tensor, a tensor named "__metadata__",
// a name / metadata string that is not valid UTF-8, or a header over 100 MB (which the reader
// would refuse).
std::vector<uint8_t> serialize_safetensors(const TensorFile& f);

// Parses a whole file held in [bytes, bytes + size). `name` (usually the path) appears in error
// messages. Throws InputError on any violation of the rules in docs/checkpoint-format.md.
TensorFile parse_safetensors(const uint8_t* bytes, size_t size, const std::string& name);

// serialize_safetensors + write_file_atomic: `path` is replaced wholly or not at all.
void write_safetensors(const std::string& path, const TensorFile& f);

// read_file + parse_safetensors, with the path as the name in messages.
TensorFile read_safetensors(const std::string& path);

// The tensor `name`, or InputError "<file_name>: expected a tensor named ..., found ...".
const Tensor& get_tensor(const TensorFile& f, const std::string& name,
                         const std::string& file_name);

// The metadata value for `key`, or InputError naming the file and the key.
const std::string& get_metadata(const TensorFile& f, const std::string& key,
                                const std::string& file_name);

}  // namespace gift::io

// IDX files, the format of MNIST and Fashion-MNIST (docs: yann.lecun.com/exdb/mnist).
//
// Layout, all integers big-endian:
//   bytes 0-1  zero
//   byte  2    element type code (kIdxUbyte ... kIdxDouble)
//   byte  3    D, the number of dimensions (1..kIdxMaxDims)
//   then       D uint32 sizes, slowest-varying first
//   then       the elements, row-major, exactly prod(sizes) * element size bytes
// A file may be stored raw or gzip-compressed; read_idx tells them apart by the gzip magic
// bytes (1f 8b), not by the file name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gift::data {

inline constexpr uint8_t kIdxUbyte = 0x08;
inline constexpr uint8_t kIdxSbyte = 0x09;
inline constexpr uint8_t kIdxShort = 0x0B;
inline constexpr uint8_t kIdxInt = 0x0C;
inline constexpr uint8_t kIdxFloat = 0x0D;
inline constexpr uint8_t kIdxDouble = 0x0E;

inline constexpr size_t kIdxMaxDims = 4;
// Largest data section accepted (16 GiB); larger headers are treated as corrupt.
inline constexpr uint64_t kIdxMaxDataBytes = uint64_t{1} << 34;

// Bytes per element of a type code (1, 2, 4 or 8), or 0 if the code is unknown.
size_t idx_element_size(uint8_t type_code);
// "ubyte", "sbyte", "short", "int", "float", "double", or "unknown".
const char* idx_type_name(uint8_t type_code);

// The contents of one IDX file.
// Guarantees (after parse_idx/read_idx): type_code is known, 1 <= dims.size() <= kIdxMaxDims,
// every dim > 0, data.size() == prod(dims) * element size <= kIdxMaxDataBytes, dims[0]<=file_rows.
struct IdxArray {
  uint8_t type_code = kIdxUbyte;
  std::vector<uint32_t> dims;  // e.g. {N, rows, cols} for images, {N} for labels
  std::vector<uint8_t> data;   // raw element bytes in file order (multi-byte types big-endian)
  uint32_t file_rows = 0;      // dims[0] in the file (dims[0] is less if rows were dropped)
};

// Parses an uncompressed IDX image held in memory. Pure: no I/O, no global state.
// Requires: bytes points to size readable bytes (bytes may be null when size == 0).
// `name` (usually the file path) only labels error messages.
// Throws InputError (one line, naming `name`) on: fewer bytes than the header, non-zero first
// magic bytes, an unknown type code, 0 or more than kIdxMaxDims dimensions, a zero size, a
// data section over kIdxMaxDataBytes, or fewer or more data bytes than the header promises.
IdxArray parse_idx(const uint8_t* bytes, size_t size, const std::string& name);

// Parses the whole bytes of an IDX file held in memory, raw or gzip (one or more gzip
// members, told apart by the magic bytes): decompresses if needed, then parse_idx. Pure.
// max_rows > 0 keeps only the first max_rows slices of the first dimension (dims[0] becomes
// min(file_rows, max_rows)): the file is checked whole as without it, but the other rows are
// never copied, and a gzip stream is decompressed one piece (1 MiB) at a time, keeping only the
// header and the rows wanted, so memory is bounded by what is kept.
// Throws InputError naming `name` if the gzip stream is corrupt, truncated, followed by
// other bytes or decompresses to more than the largest valid IDX file, or for any error
// of parse_idx.
IdxArray parse_idx_file(const uint8_t* bytes, size_t size, const std::string& name,
                        size_t max_rows = 0);

// Reads the file at `path`, then parse_idx_file(..., max_rows). A raw file is read only as far
// as its header and the rows kept (its size is checked against the header); a gzip file's
// compressed bytes are read whole.
// Throws InputError naming `path` if the file is missing, a directory or unreadable, or for
// any error of parse_idx_file.
IdxArray read_idx(const std::string& path, size_t max_rows = 0);

}  // namespace gift::data

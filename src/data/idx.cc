#include "gift/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "gift/core/error.h"

namespace gift::data {
namespace {

constexpr size_t kMaxHeaderBytes = 4 + 4 * kIdxMaxDims;
// Largest raw file or decompressed stream worth reading: the largest valid IDX file.
constexpr uint64_t kMaxFileBytes = kIdxMaxDataBytes + kMaxHeaderBytes;

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw InputError(name + ": " + what);
}

std::string hex_byte(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(b));
  return buf;
}

std::string plural(uint64_t n, const char* unit) {
  return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
}

bool is_gzip(const uint8_t* bytes, size_t size) {
  return size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string shape_string(const std::vector<uint32_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s;
}

// Decompresses one or more concatenated gzip members in pieces of at most kPiece bytes, handing
// each to `sink`; trailing non-gzip bytes are an error. Returns the decompressed size. Holds
// only one piece at a time, so the caller decides what to keep.
template <class Sink>
uint64_t gunzip_to(const uint8_t* in, size_t in_size, const std::string& name, Sink&& sink) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw InternalError("zlib inflateInit2 failed");
  struct End {
    z_stream* zs;
    ~End() { inflateEnd(zs); }
  } end{&zs};

  constexpr size_t kChunk = size_t{1} << 30;  // zlib counts input in 32-bit uInt
  constexpr size_t kPiece = size_t{1} << 20;
  std::vector<uint8_t> piece(kPiece);
  size_t in_pos = 0;
  uint64_t total = 0;
  for (;;) {
    const uInt avail_in = static_cast<uInt>(std::min(in_size - in_pos, kChunk));
    zs.next_in = const_cast<Bytef*>(in + in_pos);
    zs.avail_in = avail_in;
    zs.next_out = piece.data();
    zs.avail_out = static_cast<uInt>(kPiece);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    in_pos += avail_in - zs.avail_in;
    const size_t produced = kPiece - zs.avail_out;
    total += produced;
    if (total > kMaxFileBytes) {
      fail(name, "expected a gzip stream of an IDX file of at most " +
                     std::to_string(kMaxFileBytes) + " bytes, found one that decompresses to more");
    }
    if (produced > 0) sink(piece.data(), produced);

    if (rc == Z_STREAM_END) {
      if (in_pos == in_size) break;
      if (is_gzip(in + in_pos, in_size - in_pos) && inflateReset(&zs) == Z_OK) continue;
      fail(name, "expected end of file after the gzip stream, found " +
                     plural(in_size - in_pos, "trailing byte"));
    }
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
      fail(name, std::string("expected a valid gzip stream, found corrupt data (zlib: ") +
                     (zs.msg ? zs.msg : "data error") + ")");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      throw InternalError(name + ": zlib inflate failed with code " + std::to_string(rc));
    }
    if (in_pos == in_size && zs.avail_out > 0) {
      fail(name, "expected a complete gzip stream, found it cut off after " +
                     plural(in_size, "compressed byte"));
    }
  }
  return total;
}

// How many leading bytes of an IDX file of `size` bytes parse_prefix needs to keep `max_rows`
// rows (0 = all), given its first `have` bytes (at least min(size, kMaxHeaderBytes) of them).
// A header too short or malformed to say needs only what is there: parse_prefix reports it.
uint64_t bytes_needed(const uint8_t* bytes, size_t have, uint64_t size, size_t max_rows) {
  if (have < 4) return size;
  const size_t elem = idx_element_size(bytes[2]);
  const size_t ndims = bytes[3];
  if (elem == 0 || ndims == 0 || ndims > kIdxMaxDims || have < 4 + 4 * ndims) return size;
  const uint64_t rows = read_be32(bytes + 4);
  uint64_t row_bytes = elem;
  for (size_t i = 1; i < ndims; ++i) {
    row_bytes *= read_be32(bytes + 4 + 4 * i);
    if (row_bytes > kIdxMaxDataBytes) return size;
  }
  const uint64_t keep = max_rows == 0 ? rows : std::min<uint64_t>(rows, max_rows);
  return std::min<uint64_t>(size, 4 + 4 * ndims + keep * row_bytes);
}

// parse_idx of a file of `size` bytes of which `bytes` holds the first `have`: every check of
// parse_idx is made against `size`, and only the first `max_rows` rows (slices of the first
// dimension; 0 = all) are kept, so `have` need be only bytes_needed().
IdxArray parse_prefix(const uint8_t* bytes, size_t have, uint64_t size, size_t max_rows,
                      const std::string& name);

}  // namespace

size_t idx_element_size(uint8_t type_code) {
  switch (type_code) {
    case kIdxUbyte:
    case kIdxSbyte:
      return 1;
    case kIdxShort:
      return 2;
    case kIdxInt:
    case kIdxFloat:
      return 4;
    case kIdxDouble:
      return 8;
    default:
      return 0;
  }
}

const char* idx_type_name(uint8_t type_code) {
  switch (type_code) {
    case kIdxUbyte:
      return "ubyte";
    case kIdxSbyte:
      return "sbyte";
    case kIdxShort:
      return "short";
    case kIdxInt:
      return "int";
    case kIdxFloat:
      return "float";
    case kIdxDouble:
      return "double";
    default:
      return "unknown";
  }
}

namespace {

IdxArray parse_prefix(const uint8_t* bytes, size_t have, uint64_t size, size_t max_rows,
                      const std::string& name) {
  if (size == 0) fail(name, "expected an IDX header, found an empty file");
  if (size < 4) {
    fail(name, "expected a 4-byte IDX magic number, found only " + plural(size, "byte"));
  }
  if (bytes[0] != 0 || bytes[1] != 0) {
    fail(name, "expected an IDX magic number starting with 0x00 0x00, found " + hex_byte(bytes[0]) +
                   " " + hex_byte(bytes[1]) +
                   (is_gzip(bytes, size) ? " (gzip data: decompress it first)" : ""));
  }
  IdxArray a;
  a.type_code = bytes[2];
  const size_t elem = idx_element_size(a.type_code);
  if (elem == 0) {
    fail(name, "expected an IDX type code (0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E), found " +
                   hex_byte(a.type_code));
  }
  const size_t ndims = bytes[3];
  if (ndims == 0 || ndims > kIdxMaxDims) {
    fail(name, "expected 1 to " + std::to_string(kIdxMaxDims) + " dimensions, found " +
                   std::to_string(ndims));
  }
  const size_t header = 4 + 4 * ndims;
  if (size < header) {
    fail(name, "expected a " + std::to_string(header) + "-byte header for " +
                   plural(ndims, "dimension") + ", found only " + plural(size, "byte"));
  }
  uint64_t data_bytes = elem;
  for (size_t i = 0; i < ndims; ++i) {
    const uint32_t d = read_be32(bytes + 4 + 4 * i);
    if (d == 0) {
      fail(name, "expected non-zero dimension sizes, found size 0 for dimension " +
                     std::to_string(i) + " of " + std::to_string(ndims));
    }
    a.dims.push_back(d);
  }
  a.file_rows = a.dims[0];
  for (uint32_t d : a.dims) {
    if (data_bytes > kIdxMaxDataBytes / d) {  // data_bytes * d > limit, without overflow
      fail(name, "expected at most " + std::to_string(kIdxMaxDataBytes) +
                     " data bytes, found a header for " + shape_string(a.dims) + " " +
                     idx_type_name(a.type_code) + " elements");
    }
    data_bytes *= d;
  }
  const uint64_t found = size - header;
  if (found != data_bytes) {
    const uint64_t diff = found < data_bytes ? data_bytes - found : found - data_bytes;
    fail(name,
         "expected " + std::to_string(data_bytes) + " data bytes for " + shape_string(a.dims) +
             " " + idx_type_name(a.type_code) + " elements, found " + std::to_string(found) + " (" +
             (found < data_bytes ? plural(diff, "byte") + " short" : plural(diff, "extra byte")) +
             ")");
  }
  if (max_rows > 0 && max_rows < a.dims[0]) a.dims[0] = static_cast<uint32_t>(max_rows);
  const uint64_t keep = data_bytes / a.file_rows * a.dims[0];
  if (have < header + keep) {
    throw InternalError(name + ": parse_prefix given " + std::to_string(have) + " of the " +
                        std::to_string(header + keep) + " bytes it needs");
  }
  a.data.assign(bytes + header, bytes + header + keep);
  return a;
}

}  // namespace

IdxArray parse_idx(const uint8_t* bytes, size_t size, const std::string& name) {
  return parse_prefix(bytes, size, size, 0, name);
}

IdxArray parse_idx_file(const uint8_t* bytes, size_t size, const std::string& name,
                        size_t max_rows) {
  if (!is_gzip(bytes, size)) {
    const uint64_t need = bytes_needed(bytes, size, size, max_rows);
    return parse_prefix(bytes, static_cast<size_t>(need), size, max_rows, name);
  }
  // Keeps the header and the rows wanted; the rest is decompressed (to check the stream and the
  // size) one piece at a time and dropped.
  std::vector<uint8_t> kept;
  uint64_t need = std::numeric_limits<uint64_t>::max();
  bool known = false;
  const uint64_t total = gunzip_to(bytes, size, name, [&](const uint8_t* p, size_t n) {
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n, need - kept.size()));
    kept.insert(kept.end(), p, p + take);
    if (!known && kept.size() >= kMaxHeaderBytes) {
      known = true;
      need = bytes_needed(kept.data(), kept.size(), std::numeric_limits<uint64_t>::max(), max_rows);
      // deflate's largest ratio is 1032:1, so a bad header cannot force a huge allocation
      kept.reserve(static_cast<size_t>(std::min<uint64_t>(need, uint64_t{1032} * size)));
      if (kept.size() > need) kept.resize(static_cast<size_t>(need));
    }
  });
  return parse_prefix(kept.data(), kept.size(), total, max_rows, name);
}

IdxArray read_idx(const std::string& path, size_t max_rows) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) fail(path, "expected an IDX file, found no such file");
  if (fs::is_directory(st)) fail(path, "expected an IDX file, found a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "expected a readable file, found one that cannot be opened");
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) fail(path, "expected a readable file, found one whose size cannot be read");
  if (size > kMaxFileBytes) {
    fail(path, "expected an IDX file of at most " + std::to_string(kMaxFileBytes) +
                   " bytes, found a larger file");
  }
  // The header, then only as much of a raw file as the rows wanted; a gzip file whole (its
  // compressed bytes), to be decompressed piece by piece.
  std::vector<uint8_t> bytes(static_cast<size_t>(std::min<uintmax_t>(size, kMaxHeaderBytes)));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  const uint64_t need = is_gzip(bytes.data(), bytes.size())
                            ? size
                            : bytes_needed(bytes.data(), bytes.size(), size, max_rows);
  const size_t head = bytes.size();
  bytes.resize(static_cast<size_t>(std::max<uint64_t>(need, head)));
  in.read(reinterpret_cast<char*>(bytes.data() + head),
          static_cast<std::streamsize>(bytes.size() - head));
  if (in.bad() || (bytes.size() > 0 && !in)) {
    fail(path, "expected a readable file of " + plural(size, "byte") + ", found a read error");
  }
  if (is_gzip(bytes.data(), bytes.size())) {
    return parse_idx_file(bytes.data(), bytes.size(), path, max_rows);
  }
  return parse_prefix(bytes.data(), bytes.size(), size, max_rows, path);
}

}  // namespace gift::data

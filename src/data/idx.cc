#include "gift/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>

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

uint32_t read_le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

std::string shape_string(const std::vector<uint32_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s;
}

std::vector<uint8_t> read_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) fail(path, "expected an IDX file, found no such file");
  if (fs::is_directory(st)) fail(path, "expected an IDX file, found a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "expected a readable file, found one that cannot be opened");

  std::vector<uint8_t> bytes;
  const uintmax_t hint = fs::file_size(path, ec);
  if (!ec && hint <= kMaxFileBytes) bytes.reserve(hint);
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    bytes.insert(bytes.end(), buf, buf + in.gcount());
    if (bytes.size() > kMaxFileBytes) {
      fail(path, "expected an IDX file of at most " + std::to_string(kMaxFileBytes) +
                     " bytes, found a larger file");
    }
  }
  if (in.bad()) fail(path, "expected a readable file, found a read error");
  return bytes;
}

// Decompresses one or more concatenated gzip members; trailing non-gzip bytes are an error.
std::vector<uint8_t> gunzip(const uint8_t* in, size_t in_size, const std::string& name) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw InternalError("zlib inflateInit2 failed");
  struct End {
    z_stream* zs;
    ~End() { inflateEnd(zs); }
  } end{&zs};

  constexpr size_t kChunk = size_t{1} << 30;  // zlib counts in 32-bit uInt
  // First guess at the output size: the gzip trailer's ISIZE (size mod 2^32 of the last
  // member), bounded by deflate's largest ratio (1032:1) so a bad trailer cannot force a huge
  // allocation. The loop below grows the buffer if the guess is short.
  uint64_t guess = uint64_t{4} * in_size;
  if (in_size >= 18) guess = read_le32(in + in_size - 4) + uint64_t{1};
  guess = std::min<uint64_t>(guess, uint64_t{1032} * in_size);
  std::vector<uint8_t> out(std::clamp<uint64_t>(guess, 1 << 16, kMaxFileBytes + 1));
  size_t in_pos = 0, out_pos = 0;
  for (;;) {
    if (out_pos == out.size()) {
      if (out.size() > kMaxFileBytes) {
        fail(name, "expected a gzip stream of an IDX file of at most " +
                       std::to_string(kMaxFileBytes) +
                       " bytes, found one that decompresses to more");
      }
      out.resize(std::min<uint64_t>(2 * out.size(), kMaxFileBytes + 1));
    }
    const uInt avail_in = static_cast<uInt>(std::min(in_size - in_pos, kChunk));
    const uInt avail_out = static_cast<uInt>(std::min(out.size() - out_pos, kChunk));
    zs.next_in = const_cast<Bytef*>(in + in_pos);
    zs.avail_in = avail_in;
    zs.next_out = out.data() + out_pos;
    zs.avail_out = avail_out;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    in_pos += avail_in - zs.avail_in;
    out_pos += avail_out - zs.avail_out;

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
  out.resize(out_pos);
  return out;
}

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

IdxArray parse_idx(const uint8_t* bytes, size_t size, const std::string& name) {
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
  a.data.assign(bytes + header, bytes + size);
  return a;
}

IdxArray parse_idx_file(const uint8_t* bytes, size_t size, const std::string& name) {
  if (!is_gzip(bytes, size)) return parse_idx(bytes, size, name);
  const std::vector<uint8_t> raw = gunzip(bytes, size, name);
  return parse_idx(raw.data(), raw.size(), name);
}

IdxArray read_idx(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return parse_idx_file(bytes.data(), bytes.size(), path);
}

}  // namespace gift::data

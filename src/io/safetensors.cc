#include "gift/io/safetensors.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <utility>

#include "gift/core/error.h"
#include "gift/io/atomic_file.h"
#include "gift/io/json.h"

namespace gift::io {
namespace {

using nlohmann::json;

static_assert(std::numeric_limits<float>::is_iec559 && std::numeric_limits<double>::is_iec559,
              "safetensors F32/F64 need IEEE 754 float and double");

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the limit of the reference implementation
constexpr const char* kMetadataKey = "__metadata__";
constexpr size_t kMaxQuoted = 120;  // longest name or value echoed in a message

size_t element_size(DType d) { return d == DType::kF64 ? 8 : 4; }

// s as a JSON string literal (control characters escaped, so a message stays one line),
// shortened when long.
std::string quoted(const std::string& s) {
  std::string q = json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  if (q.size() > kMaxQuoted) q = q.substr(0, kMaxQuoted) + "...\"";
  return q;
}

// A JSON value for a message: scalars verbatim (shortened), containers by type.
std::string describe(const json& j) {
  if (j.is_object()) return "an object";
  if (j.is_array()) return "an array of " + std::to_string(j.size());
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > kMaxQuoted) s = s.substr(0, kMaxQuoted) + "...";
  return s;
}

// Keeps a foreign message (nlohmann's) on one printable line of bounded length.
std::string one_line(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (out.size() >= 300) return out + "...";
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  return out;
}

uint64_t load_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void store_u64_le(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

double load_f32_le(const uint8_t* p) {
  uint32_t bits = 0;
  for (int i = 3; i >= 0; --i) bits = (bits << 8) | p[i];
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

double load_f64_le(const uint8_t* p) {
  uint64_t bits = load_u64_le(p);
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

// Round to nearest float with IEEE semantics, also for finite values beyond the float range
// (where a plain cast is undefined behaviour in C++).
float to_f32(double v) {
  if (std::isfinite(v) && std::fabs(v) > FLT_MAX) {
    // Halfway between FLT_MAX and 2^128; the tie goes to 2^128 (even), i.e. infinity.
    const double halfway = std::ldexp(1.0, 128) - std::ldexp(1.0, 103);
    const float big = std::fabs(v) < halfway ? FLT_MAX : std::numeric_limits<float>::infinity();
    return v > 0 ? big : -big;
  }
  return static_cast<float>(v);
}

void store_f32_le(uint8_t* p, double v) {
  float f = to_f32(v);
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(bits >> (8 * i));
}

void store_f64_le(uint8_t* p, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  store_u64_le(p, bits);
}

// product(shape) without overflow; false if it does not fit in uint64. Extents must be >= 0.
bool checked_count(const std::vector<int64_t>& shape, uint64_t* count) {
  uint64_t n = 1;
  for (int64_t e : shape) {
    if (e == 0) {
      *count = 0;
      return true;
    }
  }
  for (int64_t e : shape) {
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(e), &n)) return false;
  }
  *count = n;
  return true;
}

// Throws if s is not valid UTF-8 (JSON strings must be).
void check_utf8(const std::string& s, const std::string& what) {
  try {
    (void)json(s).dump();
  } catch (const json::type_error&) {
    throw InputError("cannot serialize safetensors: expected " + what +
                     " to be valid UTF-8, found " + quoted(s));
  }
}

// Parses the header, rejecting duplicate keys in any object (nlohmann would keep the last).
json parse_header(const uint8_t* begin, const uint8_t* end, const std::string& name) {
  std::vector<std::set<std::string>> open_objects;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth) {
      throw InputError(name +
                       ": expected a flat safetensors header, found JSON nested deeper than " +
                       std::to_string(kMaxJsonDepth) + " levels");
    }
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.back().insert(parsed.get<std::string>()).second) {
          throw InputError(name + ": expected unique keys in the safetensors header, found " +
                           quoted(parsed.get<std::string>()) + " twice");
        }
        break;
      default:
        break;
    }
    return true;
  };
  // nlohmann stops at a NUL byte as if the input ended there; valid JSON never holds a raw NUL.
  if (const uint8_t* nul = std::find(begin, end, uint8_t{0}); nul != end) {
    throw InputError(name +
                     ": expected a JSON safetensors header, found invalid JSON (a NUL byte " +
                     "at header byte " + std::to_string(nul - begin) + ")");
  }
  try {
    return json::parse(begin, end, cb);
  } catch (const json::exception& e) {
    throw InputError(name + ": expected a JSON safetensors header, found invalid JSON (" +
                     one_line(e.what()) + ")");
  }
}

// A JSON integer in [0, max], or InputError with `what` describing the field.
uint64_t get_count(const json& j, uint64_t max, const std::string& where, const char* what) {
  if (j.is_number_unsigned() && j.get<uint64_t>() <= max) return j.get<uint64_t>();
  std::string expected = j.is_number_unsigned() ? std::string("at most ") + std::to_string(max)
                                                : std::string("a non-negative integer");
  throw InputError(where + ": expected " + what + " to be " + expected + ", found " + describe(j));
}

struct Entry {
  std::string name;
  Tensor tensor;
  uint64_t begin = 0;
  uint64_t end = 0;
};

Entry parse_entry(const std::string& tname, const json& j, uint64_t data_size,
                  const std::string& file) {
  const std::string where = file + ": tensor " + quoted(tname);
  if (!j.is_object()) {
    throw InputError(where + ": expected an object with dtype, shape and data_offsets, found " +
                     describe(j));
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!j.contains(key))
      throw InputError(where + ": expected a \"" + key + "\" entry, found none");
  }
  for (const auto& item : j.items()) {
    if (item.key() != "dtype" && item.key() != "shape" && item.key() != "data_offsets") {
      throw InputError(where + ": expected only dtype, shape and data_offsets, found " +
                       quoted(item.key()));
    }
  }
  Entry e;
  e.name = tname;

  const json& dtype = j.at("dtype");
  if (!dtype.is_string()) {
    throw InputError(where + ": expected dtype to be a string, found " + describe(dtype));
  }
  const std::string& ds = dtype.get_ref<const std::string&>();
  if (ds == "F32") {
    e.tensor.dtype = DType::kF32;
  } else if (ds == "F64") {
    e.tensor.dtype = DType::kF64;
  } else {
    throw InputError(where +
                     ": expected dtype \"F32\" or \"F64\" (the only ones supported), found " +
                     quoted(ds));
  }

  const json& shape = j.at("shape");
  if (!shape.is_array()) {
    throw InputError(where + ": expected shape to be an array of integers, found " +
                     describe(shape));
  }
  for (const json& d : shape) {
    if (d.is_number_integer() && !d.is_number_unsigned()) {  // a negative integer
      throw InputError(where + ": expected non-negative shape entries, found " + describe(d));
    }
    e.tensor.shape.push_back(static_cast<int64_t>(
        get_count(d, std::numeric_limits<int64_t>::max(), where, "shape entries")));
  }

  const json& offsets = j.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2) {
    throw InputError(where + ": expected data_offsets to be [begin, end], found " +
                     describe(offsets));
  }
  e.begin = get_count(offsets[0], std::numeric_limits<uint64_t>::max(), where, "data_offsets");
  e.end = get_count(offsets[1], std::numeric_limits<uint64_t>::max(), where, "data_offsets");
  if (e.begin > e.end) {
    throw InputError(where + ": expected data_offsets [begin, end] with begin <= end, found [" +
                     std::to_string(e.begin) + ", " + std::to_string(e.end) + "]");
  }

  uint64_t count = 0;
  uint64_t nbytes = 0;
  const uint64_t esize = element_size(e.tensor.dtype);
  const bool fits =
      checked_count(e.tensor.shape, &count) && !__builtin_mul_overflow(count, esize, &nbytes);
  if (!fits || nbytes != e.end - e.begin) {
    const std::string expected =
        fits ? std::to_string(nbytes) + " bytes (product(shape) * " + std::to_string(esize) + ")"
             : "product(shape) * " + std::to_string(esize) + " bytes, which overflows 64 bits";
    throw InputError(where + ": expected a byte size of " + expected + ", found data_offsets [" +
                     std::to_string(e.begin) + ", " + std::to_string(e.end) + "] (" +
                     std::to_string(e.end - e.begin) + " bytes)");
  }
  if (e.end > data_size) {
    throw InputError(where + ": expected data_offsets within the " + std::to_string(data_size) +
                     "-byte data section, found [" + std::to_string(e.begin) + ", " +
                     std::to_string(e.end) + "]");
  }
  return e;
}

void parse_metadata(const json& j, TensorFile* out, const std::string& file) {
  if (!j.is_object()) {
    throw InputError(file + ": expected __metadata__ to be an object of strings, found " +
                     describe(j));
  }
  for (const auto& item : j.items()) {
    if (!item.value().is_string()) {
      throw InputError(file + ": expected __metadata__ value " + quoted(item.key()) +
                       " to be a string, found " + describe(item.value()));
    }
    out->metadata.emplace(item.key(), item.value().get<std::string>());
  }
}

}  // namespace

const char* dtype_name(DType dtype) { return dtype == DType::kF64 ? "F64" : "F32"; }

size_t element_count(const std::vector<int64_t>& shape) {
  for (int64_t e : shape) {
    if (e < 0)
      throw InputError("tensor shape: expected non-negative extents, found " + std::to_string(e));
  }
  uint64_t count = 0;
  if (!checked_count(shape, &count) || count > std::numeric_limits<size_t>::max()) {
    throw InputError(
        "tensor shape: expected a product of extents that fits in 64 bits, found "
        "an overflow");
  }
  return static_cast<size_t>(count);
}

Tensor make_tensor(DType dtype, std::vector<int64_t> shape, std::vector<double> values) {
  const size_t count = element_count(shape);
  if (values.size() != count) {
    throw InputError("make_tensor: expected " + std::to_string(count) +
                     " values (the product of the shape), found " + std::to_string(values.size()));
  }
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.values = std::move(values);
  return t;
}

bool all_finite(const Tensor& t) {
  return std::all_of(t.values.begin(), t.values.end(), [](double v) { return std::isfinite(v); });
}

std::vector<uint8_t> serialize_safetensors(const TensorFile& f) {
  // Layout order: larger elements first (keeps every tensor aligned to its element size, since
  // the data section starts at a multiple of 8), then by name.
  std::vector<const std::pair<const std::string, Tensor>*> order;
  for (const auto& kv : f.tensors) {
    const std::string where = "cannot serialize safetensors: tensor " + quoted(kv.first);
    if (kv.first == kMetadataKey) {
      throw InputError(where + ": expected a tensor name, found the reserved key __metadata__");
    }
    check_utf8(kv.first, "tensor name");
    size_t count = 0;
    try {
      count = element_count(kv.second.shape);
    } catch (const InputError& e) {
      throw InputError(where + ": " + e.what());
    }
    if (kv.second.values.size() != count) {
      throw InputError(where + ": expected " + std::to_string(count) +
                       " values (the product of the shape), found " +
                       std::to_string(kv.second.values.size()));
    }
    order.push_back(&kv);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return element_size(a->second.dtype) > element_size(b->second.dtype);
  });

  json header = json::object();
  uint64_t offset = 0;
  for (const auto* kv : order) {
    const Tensor& t = kv->second;
    const uint64_t nbytes = t.values.size() * element_size(t.dtype);
    header[kv->first] = {{"dtype", dtype_name(t.dtype)},
                         {"shape", t.shape},
                         {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  if (!f.metadata.empty()) {
    json meta = json::object();
    for (const auto& kv : f.metadata) {
      check_utf8(kv.first, "a metadata key");
      check_utf8(kv.second, "metadata value " + quoted(kv.first));
      meta[kv.first] = kv.second;
    }
    header[kMetadataKey] = std::move(meta);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  if (text.size() > kMaxHeaderBytes) {  // we would refuse to read it back
    throw InputError("cannot serialize safetensors: expected a header of at most " +
                     std::to_string(kMaxHeaderBytes) + " bytes, found " +
                     std::to_string(text.size()) + " (" + std::to_string(f.tensors.size()) +
                     " tensors, " + std::to_string(f.metadata.size()) + " metadata entries)");
  }

  std::vector<uint8_t> out(8 + text.size() + offset);
  store_u64_le(out.data(), text.size());
  std::memcpy(out.data() + 8, text.data(), text.size());
  uint8_t* p = out.data() + 8 + text.size();
  for (const auto* kv : order) {
    const Tensor& t = kv->second;
    if (t.dtype == DType::kF64) {
      for (double v : t.values) {
        store_f64_le(p, v);
        p += 8;
      }
    } else {
      for (double v : t.values) {
        store_f32_le(p, v);
        p += 4;
      }
    }
  }
  return out;
}

TensorFile parse_safetensors(const uint8_t* bytes, size_t size, const std::string& name) {
  if (size < 8) {
    throw InputError(name + ": expected at least 8 bytes (the safetensors header length), found " +
                     std::to_string(size));
  }
  const uint64_t n = load_u64_le(bytes);
  if (n > kMaxHeaderBytes) {
    throw InputError(name + ": expected a safetensors header length of at most " +
                     std::to_string(kMaxHeaderBytes) + " bytes, found " + std::to_string(n));
  }
  if (n > size - 8) {
    throw InputError(name + ": expected a safetensors header length of at most " +
                     std::to_string(size - 8) + " bytes (the rest of the file), found " +
                     std::to_string(n));
  }
  const json header = parse_header(bytes + 8, bytes + 8 + n, name);
  if (!header.is_object()) {
    throw InputError(name + ": expected the safetensors header to be a JSON object, found " +
                     describe(header));
  }

  const uint64_t data_size = size - 8 - n;
  const uint8_t* data = bytes + 8 + n;
  TensorFile out;
  std::vector<Entry> entries;
  for (const auto& item : header.items()) {
    if (item.key() == kMetadataKey) {
      parse_metadata(item.value(), &out, name);
    } else {
      entries.push_back(parse_entry(item.key(), item.value(), data_size, name));
    }
  }

  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t pos = 0;
  const std::string* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < pos) {
      throw InputError(name + ": tensor " + quoted(e.name) + ": expected data to start at byte " +
                       std::to_string(pos) + " (after tensor " + quoted(*prev) +
                       "), found an overlap at " + std::to_string(e.begin));
    }
    if (e.begin > pos) {
      throw InputError(name + ": tensor " + quoted(e.name) + ": expected data to start at byte " +
                       std::to_string(pos) + ", found a gap (starts at " + std::to_string(e.begin) +
                       ")");
    }
    pos = e.end;
    prev = &e.name;
  }
  if (pos != data_size) {
    throw InputError(name + ": expected a data section of " + std::to_string(pos) +
                     " bytes (what the tensors cover), found " + std::to_string(data_size));
  }

  for (Entry& e : entries) {
    Tensor& t = e.tensor;
    const size_t esize = element_size(t.dtype);
    const size_t count = static_cast<size_t>((e.end - e.begin) / esize);
    t.values.resize(count);
    const uint8_t* p = data + e.begin;
    for (size_t i = 0; i < count; ++i, p += esize) {
      t.values[i] = t.dtype == DType::kF64 ? load_f64_le(p) : load_f32_le(p);
    }
    out.tensors.emplace(std::move(e.name), std::move(t));
  }
  return out;
}

void write_safetensors(const std::string& path, const TensorFile& f) {
  const std::vector<uint8_t> bytes = serialize_safetensors(f);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

TensorFile read_safetensors(const std::string& path) {
  const std::string bytes = read_file(path);
  return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}

const Tensor& get_tensor(const TensorFile& f, const std::string& name,
                         const std::string& file_name) {
  auto it = f.tensors.find(name);
  if (it != f.tensors.end()) return it->second;
  std::string found;
  size_t shown = 0;
  for (const auto& kv : f.tensors) {
    if (shown == 8) {
      found += ", ... (" + std::to_string(f.tensors.size()) + " in all)";
      break;
    }
    found += (shown++ ? ", " : "") + quoted(kv.first);
  }
  throw InputError(file_name + ": expected a tensor named " + quoted(name) + ", found " +
                   (found.empty() ? std::string("no tensors") : "only " + found));
}

const std::string& get_metadata(const TensorFile& f, const std::string& key,
                                const std::string& file_name) {
  auto it = f.metadata.find(key);
  if (it != f.metadata.end()) return it->second;
  throw InputError(file_name + ": expected a metadata entry " + quoted(key) + ", found none (" +
                   std::to_string(f.metadata.size()) + " metadata entries)");
}

}  // namespace gift::io

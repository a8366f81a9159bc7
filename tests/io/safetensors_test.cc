#include "gift/io/safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../test_util.h"
#include "gift/core/error.h"
#include "gift/io/atomic_file.h"

namespace gift::io {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

constexpr double kInf = std::numeric_limits<double>::infinity();

// A file made by hand: length field (n, or the header's size), header text, data bytes.
Bytes make_file(const std::string& header, const Bytes& data, uint64_t n = UINT64_MAX) {
  if (n == UINT64_MAX) n = header.size();
  Bytes out(8 + header.size() + data.size());
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::copy(header.begin(), header.end(), out.begin() + 8);
  std::copy(data.begin(), data.end(), out.begin() + 8 + header.size());
  return out;
}

TensorFile parse(const Bytes& b) { return parse_safetensors(b.data(), b.size(), "bad.st"); }

TensorFile round_trip(const TensorFile& f) {
  const Bytes b = serialize_safetensors(f);
  return parse_safetensors(b.data(), b.size(), "mem");
}

// Parsing `b` throws InputError whose one-line message names the file and contains `part`.
void expect_rejected(const Bytes& b, const std::string& part) {
  EXPECT_INPUT_ERROR(parse(b), part);
  EXPECT_EQ(test::input_error_message([&] { parse(b); }).rfind("bad.st: ", 0), 0u);
}

// A one-tensor header, with the entry given as JSON text.
std::string one(const std::string& entry) { return "{\"a\":" + entry + "}"; }

const Bytes kEight(8, 0);

void expect_same(const TensorFile& a, const TensorFile& b) {
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& kv : a.tensors) {
    const Tensor& t = get_tensor(b, kv.first, "b");
    EXPECT_EQ(t.dtype, kv.second.dtype) << kv.first;
    EXPECT_EQ(t.shape, kv.second.shape) << kv.first;
    EXPECT_EQ(t.values, kv.second.values) << kv.first;
  }
}

// ---------------------------------------------------------------- round trips

TEST(Safetensors, RoundTripF64IsExact) {
  TensorFile f;
  f.tensors["w"] =
      make_tensor(DType::kF64, {2, 3}, {0.1, -0.0, 1e-310, DBL_MAX, -DBL_MIN, 1.0 / 3.0});
  f.tensors["b"] = make_tensor(DType::kF64, {3}, {1, 2, 3});
  f.metadata["kind"] = "test";
  expect_same(f, round_trip(f));
}

TEST(Safetensors, RoundTripF32OfFloatValuesIsExact) {
  TensorFile f;
  f.tensors["w"] = make_tensor(
      DType::kF32, {3, 2}, {0.5, -1.25, double(0.1f), double(FLT_MAX), double(FLT_TRUE_MIN), 0});
  expect_same(f, round_trip(f));
}

TEST(Safetensors, F32RoundsToNearestFloat) {
  const double halfway = std::ldexp(1.0, 128) - std::ldexp(1.0, 103);  // FLT_MAX + half an ulp
  TensorFile f;
  f.tensors["x"] = make_tensor(
      DType::kF32, {9},
      {0.1, 1.0 + std::ldexp(1.0, -30), -2.0 / 3.0, 1e-50, 1e300, -1e300,
       std::nextafter(halfway, 0.0), halfway, std::numeric_limits<double>::quiet_NaN()});
  const Tensor t = get_tensor(round_trip(f), "x", "mem");
  EXPECT_EQ(t.values[0], double(0.1f));
  EXPECT_EQ(t.values[1], 1.0);
  EXPECT_EQ(t.values[2], double(-2.0f / 3.0f));
  EXPECT_EQ(t.values[3], 0.0);
  EXPECT_EQ(t.values[4], kInf);
  EXPECT_EQ(t.values[5], -kInf);
  EXPECT_EQ(t.values[6], double(FLT_MAX));
  EXPECT_EQ(t.values[7], kInf);  // the tie rounds to even, which is 2^128 = inf
  EXPECT_TRUE(std::isnan(t.values[8]));
  EXPECT_FALSE(all_finite(t));
}

TEST(Safetensors, ScalarsAndEmptyTensors) {
  TensorFile f;
  f.tensors["s32"] = make_tensor(DType::kF32, {}, {2.5});
  f.tensors["s64"] = make_tensor(DType::kF64, {}, {-7.25});
  f.tensors["empty"] = make_tensor(DType::kF32, {0, 4}, {});
  f.tensors["empty64"] = make_tensor(DType::kF64, {3, 0}, {});
  const TensorFile g = round_trip(f);
  expect_same(f, g);
  EXPECT_TRUE(get_tensor(g, "s32", "mem").shape.empty());
}

TEST(Safetensors, EmptyFileAndEmptyMetadata) {
  const TensorFile empty;
  const Bytes b = serialize_safetensors(empty);
  EXPECT_EQ(std::string(b.begin() + 8, b.end()), "{}      ");
  expect_same(empty, round_trip(empty));

  TensorFile f;
  f.tensors["a"] = make_tensor(DType::kF32, {1}, {1});
  const Bytes c = serialize_safetensors(f);
  EXPECT_EQ(std::string(c.begin(), c.end()).find("__metadata__"), std::string::npos);
  EXPECT_TRUE(round_trip(f).metadata.empty());
}

TEST(Safetensors, MetadataStringsWithQuotesNewlinesAndUnicode) {
  TensorFile f;
  f.metadata["quote"] = "say \"hi\" \\ back";
  f.metadata["lines"] = "one\ntwo\r\n\tthree";
  f.metadata["unicode"] = "\xce\xbb = 1550 nm";
  f.metadata["empty"] = "";
  f.metadata["key with \"quotes\""] = "{\"json\": [1, 2]}";
  expect_same(f, round_trip(f));
}

TEST(Safetensors, SerializeIsDeterministic) {
  TensorFile f;
  f.tensors["b"] = make_tensor(DType::kF32, {2}, {1, 2});
  f.tensors["a"] = make_tensor(DType::kF64, {1}, {3});
  f.metadata["k"] = "v";
  EXPECT_EQ(serialize_safetensors(f), serialize_safetensors(f));
}

// ---------------------------------------------------------------- byte layout

TEST(Safetensors, ByteLayoutOfOneTensor) {
  TensorFile f;
  f.tensors["a"] = make_tensor(DType::kF32, {2}, {1.0, -2.0});
  const Bytes b = serialize_safetensors(f);
  const std::string json_text = R"({"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}})";
  ASSERT_EQ(json_text.size(), 54u);  // padded to 56
  const std::string header = json_text + "  ";
  Bytes expected = {56, 0, 0, 0, 0, 0, 0, 0};  // little-endian u64
  expected.insert(expected.end(), header.begin(), header.end());
  for (uint8_t x : {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0}) expected.push_back(x);
  EXPECT_EQ(b, expected);
}

TEST(Safetensors, LengthFieldIsLittleEndianAndHeaderPaddedTo8) {
  TensorFile f;
  for (int i = 0; i < 40; ++i) {  // a header longer than 256 bytes exercises the second byte
    f.tensors["t" + std::to_string(i)] = make_tensor(DType::kF32, {}, {double(i)});
  }
  f.metadata["m"] = "xyz";
  const Bytes b = serialize_safetensors(f);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | b[i];
  EXPECT_GT(n, 256u);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(b.size(), 8 + n + 40 * 4);
  const std::string header(b.begin() + 8, b.begin() + 8 + n);
  EXPECT_EQ(header.back() == ' ' || header.back() == '}', true);
  EXPECT_EQ(header.find_last_not_of(' '), header.find_last_of('}'));
}

TEST(Safetensors, DataOffsetsAreContiguousF64FirstThenByName) {
  TensorFile f;
  f.tensors["a32"] = make_tensor(DType::kF32, {3}, {1, 2, 3});
  f.tensors["b64"] = make_tensor(DType::kF64, {2}, {4, 5});
  f.tensors["c32"] = make_tensor(DType::kF32, {}, {6});
  f.tensors["d64"] = make_tensor(DType::kF64, {1, 1}, {7});
  const Bytes b = serialize_safetensors(f);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | b[i];
  const auto h = nlohmann::json::parse(b.begin() + 8, b.begin() + 8 + n);
  using Off = std::vector<uint64_t>;
  EXPECT_EQ(h["b64"]["data_offsets"].get<Off>(), (Off{0, 16}));
  EXPECT_EQ(h["d64"]["data_offsets"].get<Off>(), (Off{16, 24}));
  EXPECT_EQ(h["a32"]["data_offsets"].get<Off>(), (Off{24, 36}));
  EXPECT_EQ(h["c32"]["data_offsets"].get<Off>(), (Off{36, 40}));
  EXPECT_EQ(h["d64"]["dtype"], "F64");
  EXPECT_EQ(h["d64"]["shape"].get<std::vector<int64_t>>(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(b.size(), 8 + n + 40);
  double d;  // the F64 tensor "b64" starts the data section
  uint64_t bits = 0;
  for (int i = 7; i >= 0; --i) bits = (bits << 8) | b[8 + n + i];
  std::memcpy(&d, &bits, 8);
  EXPECT_EQ(d, 4.0);
}

TEST(Safetensors, ParsesForeignLayouts) {
  // Unpadded header, entries in any order, offsets not in name order, extra whitespace.
  Bytes data = {0, 0, 0x80, 0x3f, 0, 0, 0, 0x40};  // 1.0f, 2.0f
  const Bytes b = make_file(
      " { \"z\" : {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\n"
      "\"y\":{\"shape\":[],\"data_offsets\":[4,8],\"dtype\":\"F32\"},"
      "\"__metadata__\":{\"format\":\"pt\"}}   ",
      data);
  const TensorFile f = parse(b);
  EXPECT_EQ(get_tensor(f, "z", "x").values, std::vector<double>{1.0});
  EXPECT_EQ(get_tensor(f, "y", "x").values, std::vector<double>{2.0});
  EXPECT_EQ(get_metadata(f, "format", "x"), "pt");
}

// ---------------------------------------------------------------- malformed files

TEST(SafetensorsMalformed, TooShortForLengthField) {
  expect_rejected({}, "expected at least 8 bytes");
  expect_rejected(Bytes(7, 0), "found 7");
}

TEST(SafetensorsMalformed, HeaderLengthLargerThanFile) {
  expect_rejected(make_file("{}", {}, 100), "at most 2 bytes (the rest of the file), found 100");
  expect_rejected(make_file("", {}, 1), "found 1");
}

TEST(SafetensorsMalformed, HeaderLengthAbsurd) {
  expect_rejected(make_file("{}", {}, uint64_t{1} << 40), "at most 100000000 bytes");
  expect_rejected(make_file("{}", {}, UINT64_MAX - 1), "at most 100000000 bytes");
  expect_rejected(make_file("{}", {}, 100'000'001), "found 100000001");
}

TEST(SafetensorsMalformed, HeaderNotJson) {
  expect_rejected(make_file("", {}), "invalid JSON");
  expect_rejected(make_file("{\"a\":", {}), "invalid JSON");
  expect_rejected(make_file("{} x", {}), "invalid JSON");
  expect_rejected(make_file(std::string("{}\0\0", 4), {}),
                  "invalid JSON (a NUL byte at header byte 2)");
  expect_rejected(make_file(std::string("{\"a\0\":1}", 8), {}), "a NUL byte at header byte 3");
  expect_rejected(make_file("{\"a\xff\":1}", {}), "invalid JSON");  // not UTF-8
  expect_rejected(make_file("{\"a\n\":1}", {}), "invalid JSON");    // raw newline in a string
}

TEST(SafetensorsMalformed, HeaderNotObject) {
  expect_rejected(make_file("[1,2]", {}), "expected the safetensors header to be a JSON object");
  expect_rejected(make_file("\"x\"", {}), "found \"x\"");
  expect_rejected(make_file("null", {}), "found null");
}

TEST(SafetensorsMalformed, DuplicateKeys) {
  const std::string e = R"({"dtype":"F32","shape":[],"data_offsets":[0,4]})";
  expect_rejected(make_file("{\"a\":" + e + ",\"a\":" + e + "}", Bytes(4, 0)), "found \"a\" twice");
  expect_rejected(make_file(one(R"({"dtype":"F32","dtype":"F64","shape":[],"data_offsets":[0,4]})"),
                            Bytes(4, 0)),
                  "found \"dtype\" twice");
}

TEST(SafetensorsMalformed, EntryNotObject) {
  expect_rejected(make_file(one("3"), {}), "tensor \"a\": expected an object");
  expect_rejected(make_file(one("[]"), {}), "found an array of 0");
}

TEST(SafetensorsMalformed, EntryMissingFields) {
  expect_rejected(make_file(one(R"({"shape":[],"data_offsets":[0,4]})"), Bytes(4, 0)),
                  "tensor \"a\": expected a \"dtype\" entry, found none");
  expect_rejected(make_file(one(R"({"dtype":"F32","data_offsets":[0,4]})"), Bytes(4, 0)),
                  "expected a \"shape\" entry");
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[]})"), Bytes(4, 0)),
                  "expected a \"data_offsets\" entry");
}

TEST(SafetensorsMalformed, EntryUnknownField) {
  expect_rejected(
      make_file(one(R"({"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1})"), Bytes(4, 0)),
      "expected only dtype, shape and data_offsets, found \"x\"");
}

TEST(SafetensorsMalformed, EntryWrongJsonTypes) {
  const Bytes d(4, 0);
  expect_rejected(make_file(one(R"({"dtype":5,"shape":[],"data_offsets":[0,4]})"), d),
                  "expected dtype to be a string, found 5");
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":"x","data_offsets":[0,4]})"), d),
                  "expected shape to be an array of integers, found \"x\"");
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[1.0],"data_offsets":[0,4]})"), d),
                  "expected shape entries to be a non-negative integer, found 1.0");
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[[1]],"data_offsets":[0,4]})"), d),
                  "found an array of 1");
  expect_rejected(
      make_file(one(R"({"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]})"), d),
      "expected shape entries to be at most 9223372036854775807");
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[],"data_offsets":"x"})"), d),
                  "expected data_offsets to be [begin, end], found \"x\"");
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[],"data_offsets":[0]})"), d),
                  "found an array of 1");
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[],"data_offsets":[0,4,8]})"), d),
                  "found an array of 3");
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[],"data_offsets":[-1,4]})"), d),
                  "expected data_offsets to be a non-negative integer, found -1");
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[],"data_offsets":[0,4.0]})"), d),
                  "found 4.0");
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[],"data_offsets":[0,null]})"), d),
                  "found null");
}

TEST(SafetensorsMalformed, UnsupportedDtype) {
  expect_rejected(
      make_file(one(R"({"dtype":"BF16","shape":[2],"data_offsets":[0,4]})"), Bytes(4, 0)),
      "expected dtype \"F32\" or \"F64\" (the only ones supported), found \"BF16\"");
  expect_rejected(make_file(one(R"({"dtype":"f32","shape":[],"data_offsets":[0,4]})"), Bytes(4, 0)),
                  "found \"f32\"");
}

TEST(SafetensorsMalformed, NegativeShape) {
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[2,-1],"data_offsets":[0,0]})"), {}),
                  "expected non-negative shape entries, found -1");
}

TEST(SafetensorsMalformed, OffsetsBeginAfterEnd) {
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})"), kEight),
                  "expected data_offsets [begin, end] with begin <= end, found [8, 4]");
}

TEST(SafetensorsMalformed, ByteSizeMismatch) {
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), kEight),
                  "expected a byte size of 12 bytes (product(shape) * 4), found data_offsets "
                  "[0, 8] (8 bytes)");
  expect_rejected(make_file(one(R"({"dtype":"F64","shape":[],"data_offsets":[0,4]})"), Bytes(4, 0)),
                  "expected a byte size of 8 bytes");
  expect_rejected(make_file(one(R"({"dtype":"F64","shape":[4294967296,4294967296],)"
                                R"("data_offsets":[0,0]})"),
                            {}),
                  "overflows 64 bits");
}

TEST(SafetensorsMalformed, OffsetsOutOfDataSection) {
  expect_rejected(
      make_file(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"), Bytes(4, 0)),
      "expected data_offsets within the 4-byte data section, found [0, 8]");
  expect_rejected(
      make_file(one(R"({"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,)"
                    R"(18446744073709551616]})"),
                Bytes(4, 0)),
      "expected data_offsets to be a non-negative integer, found 1.8446744073709552e+19");
  // (2^64 does not fit in uint64, so JSON reads it as a float)
}

TEST(SafetensorsMalformed, OffsetsNearUint64Max) {
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[1],"data_offsets":)"
                                R"([18446744073709551611,18446744073709551615]})"),
                            Bytes(4, 0)),
                  "expected data_offsets within the 4-byte data section");
}

TEST(SafetensorsMalformed, OverlappingTensors) {
  expect_rejected(
      make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                Bytes(12, 0)),
      "tensor \"b\": expected data to start at byte 8 (after tensor \"a\"), found an overlap at 4");
  expect_rejected(  // two tensors sharing the same bytes
      make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                kEight),
      "found an overlap at 0");
}

TEST(SafetensorsMalformed, GapBetweenTensors) {
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                            Bytes(12, 0)),
                  "tensor \"b\": expected data to start at byte 4, found a gap (starts at 8)");
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[1],"data_offsets":[4,8]})"), kEight),
                  "expected data to start at byte 0, found a gap (starts at 4)");
}

TEST(SafetensorsMalformed, DataSectionLongerOrShorterThanTensors) {
  expect_rejected(make_file(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})"), kEight),
                  "expected a data section of 4 bytes (what the tensors cover), found 8");
  expect_rejected(make_file("{}", Bytes(1, 0)), "expected a data section of 0 bytes");
  expect_rejected(
      make_file(one(R"({"dtype":"F64","shape":[1],"data_offsets":[0,8]})"), Bytes(7, 0)),
      "within the 7-byte data section");
}

TEST(SafetensorsMalformed, MetadataNotObjectOfStrings) {
  expect_rejected(make_file(R"({"__metadata__":"x"})", {}),
                  "expected __metadata__ to be an object of strings, found \"x\"");
  expect_rejected(make_file(R"({"__metadata__":null})", {}), "found null");
  expect_rejected(make_file(R"({"__metadata__":["a"]})", {}), "found an array of 1");
  expect_rejected(make_file(R"({"__metadata__":{"k":1}})", {}),
                  "expected __metadata__ value \"k\" to be a string, found 1");
  expect_rejected(make_file(R"({"__metadata__":{"k":{"x":"y"}}})", {}), "found an object");
}

TEST(SafetensorsMalformed, MessagesEscapeHostileNames) {
  // A tensor name with an escaped newline must not break the one-line message.
  expect_rejected(
      make_file(R"({"a\nb":{"dtype":"I8","shape":[],"data_offsets":[0,1]}})", Bytes(1, 0)),
      "tensor \"a\\nb\"");
}

TEST(Safetensors, NonFiniteValuesAreNotAnError) {
  const Bytes b = make_file(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"),
                            {0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0xff});  // NaN, -inf
  const TensorFile f = parse(b);
  const Tensor& t = get_tensor(f, "a", "bad.st");
  EXPECT_TRUE(std::isnan(t.values[0]));
  EXPECT_EQ(t.values[1], -kInf);
  EXPECT_FALSE(all_finite(t));
  EXPECT_TRUE(all_finite(make_tensor(DType::kF64, {2}, {DBL_MAX, -0.0})));
  EXPECT_TRUE(all_finite(make_tensor(DType::kF64, {0}, {})));
}

// ---------------------------------------------------------------- helpers and serialize errors

TEST(SafetensorsHelpers, MakeTensorValidates) {
  EXPECT_EQ(make_tensor(DType::kF64, {2, 2}, {1, 2, 3, 4}).shape, (std::vector<int64_t>{2, 2}));
  EXPECT_NE(test::input_error_message([] {
              make_tensor(DType::kF32, {2, 2}, {1, 2, 3});
            }).find("expected 4 values (the product of the shape), found 3"),
            std::string::npos);
  EXPECT_NE(
      test::input_error_message([] { make_tensor(DType::kF32, {}, {}); }).find("expected 1 values"),
      std::string::npos);
  EXPECT_NE(test::input_error_message([] { make_tensor(DType::kF32, {-2}, {}); }).find("found -2"),
            std::string::npos);
  EXPECT_NE(test::input_error_message([] {
              make_tensor(DType::kF32, {1LL << 40, 1LL << 40}, {});
            }).find("overflow"),
            std::string::npos);
}

TEST(SafetensorsHelpers, AccessorsNameTheFileAndTheMissingKey) {
  TensorFile f;
  f.tensors["w"] = make_tensor(DType::kF32, {}, {1});
  f.metadata["k"] = "v";
  EXPECT_EQ(get_tensor(f, "w", "m.st").values[0], 1.0);
  EXPECT_EQ(get_metadata(f, "k", "m.st"), "v");
  EXPECT_EQ(test::input_error_message([&] { get_tensor(f, "x", "m.st"); }),
            "m.st: expected a tensor named \"x\", found only \"w\"");
  EXPECT_EQ(test::input_error_message([&] { get_metadata(f, "q", "m.st"); }),
            "m.st: expected a metadata entry \"q\", found none (1 metadata entries)");
  EXPECT_EQ(test::input_error_message([] { get_tensor(TensorFile{}, "x", "e.st"); }),
            "e.st: expected a tensor named \"x\", found no tensors");
}

TEST(SafetensorsHelpers, SerializeRejectsInvalidTensors) {
  TensorFile f;
  f.tensors["w"] = Tensor{DType::kF32, {2}, {1}};
  EXPECT_NE(test::input_error_message([&] {
              serialize_safetensors(f);
            }).find("tensor \"w\": expected 2 values (the product of the shape), found 1"),
            std::string::npos);
  f.tensors["w"] = Tensor{DType::kF32, {-1}, {}};
  EXPECT_NE(test::input_error_message([&] { serialize_safetensors(f); }).find("found -1"),
            std::string::npos);
  f.tensors.clear();
  f.tensors["__metadata__"] = make_tensor(DType::kF32, {}, {1});
  EXPECT_NE(test::input_error_message([&] {
              serialize_safetensors(f);
            }).find("reserved key __metadata__"),
            std::string::npos);
  f.tensors.clear();
  f.tensors["bad\xff"] = make_tensor(DType::kF32, {}, {1});
  EXPECT_NE(test::input_error_message([&] {
              serialize_safetensors(f);
            }).find("tensor name to be valid UTF-8"),
            std::string::npos);
  f.tensors.clear();
  f.metadata["big"] = std::string(100'000'000, 'x');
  EXPECT_NE(test::input_error_message([&] {
              serialize_safetensors(f);
            }).find("header of at most 100000000 bytes"),
            std::string::npos);
  f.metadata.clear();
  f.metadata["k"] = "\xc3";
  EXPECT_NE(
      test::input_error_message([&] { serialize_safetensors(f); }).find("metadata value \"k\""),
      std::string::npos);
}

// ---------------------------------------------------------------- files

class SafetensorsFile : public ::testing::Test {
 protected:
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  test::TempDir tmp_;
  fs::path dir_ = tmp_.dir();
};

TensorFile sample() {
  TensorFile f;
  f.tensors["layer0.weight"] = make_tensor(DType::kF32, {2, 3}, {0.5, -1.25, 3, 0, -0.0, 1e-3});
  f.tensors["layer0.bias"] = make_tensor(DType::kF64, {2}, {0.1, -2});
  f.tensors["step"] = make_tensor(DType::kF64, {}, {42});
  f.tensors["none"] = make_tensor(DType::kF32, {0, 3}, {});
  f.metadata["note"] = "a \"quoted\"\nline";
  return f;
}

TEST_F(SafetensorsFile, WriteThenReadLeavesOnlyTheFile) {
  const std::string path = (dir_ / "model.safetensors").string();
  write_safetensors(path, sample());
  TensorFile back = read_safetensors(path);
  EXPECT_EQ(get_tensor(back, "layer0.weight", path).values[5], double(1e-3f));
  EXPECT_EQ(get_tensor(back, "layer0.bias", path).values, (std::vector<double>{0.1, -2}));
  EXPECT_EQ(get_metadata(back, "note", path), "a \"quoted\"\nline");
  EXPECT_EQ(listing(), std::vector<std::string>{"model.safetensors"});
}

TEST_F(SafetensorsFile, OverwriteReplacesTheFileWholly) {
  const std::string path = (dir_ / "m.st").string();
  write_file_atomic(path, std::string(100000, 'x'));
  write_safetensors(path, sample());
  const std::string on_disk = read_file(path);
  const Bytes expected = serialize_safetensors(sample());
  EXPECT_EQ(on_disk, std::string(expected.begin(), expected.end()));
  EXPECT_EQ(listing(), std::vector<std::string>{"m.st"});
}

TEST_F(SafetensorsFile, WriteUnderAFileThrowsAndLeavesNothing) {
  write_file_atomic((dir_ / "file").string(), "x");
  const fs::path path = dir_ / "file" / "m.st";
  const std::string msg =
      test::input_error_message([&] { write_safetensors(path.string(), sample()); });
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  EXPECT_EQ(listing(), std::vector<std::string>{"file"});
}

TEST_F(SafetensorsFile, FailedRenameRemovesTheTemporary) {
  const fs::path path = dir_ / "taken";
  fs::create_directory(path);  // rename(file, non-empty directory) fails
  fs::create_directory(path / "child");
  const std::string msg =
      test::input_error_message([&] { write_file_atomic(path.string(), "data"); });
  EXPECT_NE(msg.find("cannot write file '" + path.string() + "'"), std::string::npos) << msg;
  EXPECT_EQ(listing(), std::vector<std::string>{"taken"});
  EXPECT_TRUE(fs::is_directory(path / "child"));
}

TEST_F(SafetensorsFile, ReadErrorsNameThePath) {
  const std::string missing = (dir_ / "nope.st").string();
  EXPECT_NE(test::input_error_message([&] {
              read_safetensors(missing);
            }).find("cannot read file '" + missing + "'"),
            std::string::npos);
  EXPECT_NE(test::input_error_message([&] { read_file(dir_.string()); }).find(dir_.string()),
            std::string::npos);
  const std::string bad = (dir_ / "bad.st").string();
  write_file_atomic(bad, "abc");
  EXPECT_EQ(test::input_error_message([&] { read_safetensors(bad); }),
            bad + ": expected at least 8 bytes (the safetensors header length), found 3");
}

TEST_F(SafetensorsFile, AtomicWriteOfBinaryAndEmptyContents) {
  const std::string path = (dir_ / "bin").string();
  const std::string bytes("a\0b\xff\n", 5);
  write_file_atomic(path, bytes);
  EXPECT_EQ(read_file(path), bytes);
  write_file_atomic(path, "");
  EXPECT_EQ(read_file(path), "");
}

// An independent reader: Debian's python3 with json + struct + numpy only (the snippet of
// docs/checkpoint-format.md), checking a file we wrote.
TEST_F(SafetensorsFile, PythonNumpyReadsOurFile) {
  if (!fs::exists("/usr/bin/python3") ||
      std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  }
  const std::string path = (dir_ / "py.safetensors").string();
  write_safetensors(path, sample());
  const std::string script = R"PY(
import json, struct, sys
import numpy as np

def read_gift(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = raw[8 + n:]
    dtypes = {"F32": "<f4", "F64": "<f8"}
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        a = np.frombuffer(data[begin:end], dtype=dtypes[info["dtype"]])
        tensors[name] = a.reshape(info["shape"])
    return tensors, metadata

path = sys.argv[1]
t, m = read_gift(path)
raw = open(path, "rb").read()
assert struct.unpack("<Q", raw[:8])[0] % 8 == 0
assert sorted(t) == ["layer0.bias", "layer0.weight", "none", "step"], sorted(t)
w = t["layer0.weight"]
assert w.dtype == np.float32 and w.shape == (2, 3), (w.dtype, w.shape)
assert np.array_equal(w, np.array([[0.5, -1.25, 3], [0, -0.0, 1e-3]], dtype=np.float32)), w
b = t["layer0.bias"]
assert b.dtype == np.float64 and np.array_equal(b, [0.1, -2.0]), b
assert t["step"].shape == () and t["step"] == 42.0
assert t["none"].shape == (0, 3) and t["none"].dtype == np.float32
assert m == {"note": 'a "quoted"\nline'}, m
print("ok")
)PY";
  const std::string script_path = (dir_ / "check.py").string();
  const std::string out_path = (dir_ / "out.txt").string();
  write_file_atomic(script_path, script);
  const std::string cmd =
      "/usr/bin/python3 '" + script_path + "' '" + path + "' >'" + out_path + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string out = read_file(out_path);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "ok\n");
}

}  // namespace
}  // namespace gift::io

namespace gift::io {
namespace {

// A header nested 10^5 levels deep is refused while parsing, before anything walks it.
TEST(SafetensorsMalformed, DeeplyNestedHeader) {
  std::string deep = "{\"__metadata__\":{\"a\":";
  for (int i = 0; i < 100000; ++i) deep += "[";
  expect_rejected(make_file(deep, {}), "nested deeper than 64");
}

}  // namespace
}  // namespace gift::io

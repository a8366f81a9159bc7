#include "gift/data/idx.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "../test_util.h"
#include "idx_test_util.h"

namespace gift::data {
namespace {

using test::read_bytes;
using test::TempDir;
using test::write_bytes;
using test_util::iota_bytes;
using test_util::make_idx;
using test_util::write_gzip;

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// --- Well-formed files -------------------------------------------------------------------------

TEST(Idx, RawRoundTrip) {
  TempDir t;
  const std::string p = t.path("a-idx3-ubyte");
  write_bytes(p, make_idx(kIdxUbyte, {2, 3, 4}, iota_bytes(24)));
  const IdxArray a = read_idx(p);
  EXPECT_EQ(a.type_code, kIdxUbyte);
  EXPECT_EQ(a.dims, (std::vector<uint32_t>{2, 3, 4}));
  EXPECT_EQ(a.data, iota_bytes(24));
}

TEST(Idx, GzipRoundTrip) {
  TempDir t;
  const std::string p = t.path("a-idx1-ubyte.gz");
  write_gzip(p, make_idx(kIdxUbyte, {300}, iota_bytes(300)));
  const IdxArray a = read_idx(p);
  EXPECT_EQ(a.type_code, kIdxUbyte);
  EXPECT_EQ(a.dims, (std::vector<uint32_t>{300}));
  EXPECT_EQ(a.data, iota_bytes(300));
}

TEST(Idx, GzipIsDetectedByMagicBytesNotByName) {
  TempDir t;
  const std::vector<uint8_t> idx = make_idx(kIdxUbyte, {5}, iota_bytes(5));
  write_gzip(t.path("compressed.idx"), idx);
  write_bytes(t.path("raw.gz"), idx);
  EXPECT_EQ(read_idx(t.path("compressed.idx")).data, iota_bytes(5));
  EXPECT_EQ(read_idx(t.path("raw.gz")).data, iota_bytes(5));
}

TEST(Idx, LargeGzipRoundTrip) {  // output buffer growth, ISIZE hint
  TempDir t;
  const std::string p = t.path("big.gz");
  const std::vector<uint8_t> data(1000 * 28 * 28, 7);  // compresses ~1000:1
  write_gzip(p, make_idx(kIdxUbyte, {1000, 28, 28}, data));
  EXPECT_EQ(read_idx(p).data, data);
}

TEST(Idx, ConcatenatedGzipMembersAreOneStream) {
  TempDir t;
  const std::vector<uint8_t> idx = make_idx(kIdxUbyte, {2, 10}, iota_bytes(20));
  write_gzip(t.path("a.gz"), std::vector<uint8_t>(idx.begin(), idx.begin() + 7));
  write_gzip(t.path("b.gz"), std::vector<uint8_t>(idx.begin() + 7, idx.end()));
  const std::string p = t.path("ab.gz");
  write_bytes(p, concat(read_bytes(t.path("a.gz")), read_bytes(t.path("b.gz"))));
  EXPECT_EQ(read_idx(p).data, iota_bytes(20));
}

TEST(Idx, ParseIdxFileReadsRawAndGzipBytesLikeReadIdx) {
  TempDir t;
  const std::vector<uint8_t> idx = make_idx(kIdxUbyte, {3, 4}, iota_bytes(12));
  write_gzip(t.path("a.gz"), idx);
  const std::vector<uint8_t> gz = read_bytes(t.path("a.gz"));
  EXPECT_EQ(parse_idx_file(idx.data(), idx.size(), "raw").data, iota_bytes(12));
  const IdxArray a = parse_idx_file(gz.data(), gz.size(), "packed");
  EXPECT_EQ(a.dims, (std::vector<uint32_t>{3, 4}));
  EXPECT_EQ(a.data, iota_bytes(12));
  const std::vector<uint8_t> cut(gz.begin(), gz.end() - 5);
  EXPECT_INPUT_ERROR(parse_idx_file(cut.data(), cut.size(), "packed"), "packed", "cut off");
  EXPECT_INPUT_ERROR(parse_idx_file(nullptr, 0, "nothing"), "nothing", "empty");
}

// --- A row limit: only the rows kept are decoded, the file is still checked whole ---------------

// The peak resident memory of this process, in MiB (Linux reports ru_maxrss in KiB).
double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

TEST(IdxRowLimit, KeepsTheFirstRowsOfRawAndGzipFiles) {
  TempDir t;
  const std::vector<uint8_t> idx = make_idx(kIdxUbyte, {50, 2, 3}, iota_bytes(300));
  write_bytes(t.path("raw"), idx);
  write_gzip(t.path("gz"), idx);
  for (const char* name : {"raw", "gz"}) {
    const IdxArray a = read_idx(t.path(name), 4);
    EXPECT_EQ(a.dims, (std::vector<uint32_t>{4, 2, 3})) << name;
    EXPECT_EQ(a.file_rows, 50u) << name;
    EXPECT_EQ(a.data, iota_bytes(24)) << name;
    // 0 and any limit at or over the count keep every row.
    for (size_t limit : {size_t{0}, size_t{50}, size_t{51}}) {
      const IdxArray all = read_idx(t.path(name), limit);
      EXPECT_EQ(all.dims, (std::vector<uint32_t>{50, 2, 3})) << name << " " << limit;
      EXPECT_EQ(all.data, iota_bytes(300)) << name << " " << limit;
    }
  }
  const IdxArray labels = parse_idx_file(idx.data(), idx.size(), "mem", 1);
  EXPECT_EQ(labels.data, iota_bytes(6));
}

TEST(IdxRowLimit, TheRestOfTheFileIsStillChecked) {
  TempDir t;
  std::vector<uint8_t> idx = make_idx(kIdxUbyte, {50, 6}, iota_bytes(300));
  idx.pop_back();  // one byte short, in the last row, far past the rows kept
  write_bytes(t.path("short"), idx);
  write_gzip(t.path("short.gz"), idx);
  EXPECT_INPUT_ERROR(read_idx(t.path("short"), 2), t.path("short"), "1 byte short");
  EXPECT_INPUT_ERROR(read_idx(t.path("short.gz"), 2), t.path("short.gz"), "1 byte short");
  // A gzip stream cut off past the rows kept.
  write_gzip(t.path("whole.gz"), make_idx(kIdxUbyte, {50, 6}, iota_bytes(300)));
  std::vector<uint8_t> gz = read_bytes(t.path("whole.gz"));
  gz.resize(gz.size() - 5);
  write_bytes(t.path("cut.gz"), gz);
  EXPECT_INPUT_ERROR(read_idx(t.path("cut.gz"), 2), t.path("cut.gz"), "cut off");
}

// A limit bounds the memory by the rows kept, not by the file: a sparse raw file of 2 GiB and
// a gzip file that decompresses to 320 MB are read for 10 rows within 64 MiB of the peak memory
// before (reading either whole would need the whole size). The peak is the process's, so the
// check can only pass wrongly if an earlier test in this process already peaked above 2 GiB.
TEST(IdxRowLimit, MemoryIsBoundedByTheRowsKept) {
  TempDir t;
  const uint32_t n = 2'700'000;  // x 28 x 28 bytes: 2.1 GB
  write_bytes(t.path("sparse"), make_idx(kIdxUbyte, {n, 28, 28}, {}));
  std::filesystem::resize_file(t.path("sparse"), 16 + uint64_t{n} * 784);
  const uint32_t m = 400'000;  // x 28 x 28 bytes: 314 MB of zeros, a few hundred KB compressed
  {
    gzFile f = gzopen(t.path("zeros.gz").c_str(), "wb1");
    ASSERT_NE(f, nullptr);
    const std::vector<uint8_t> header = make_idx(kIdxUbyte, {m, 28, 28}, {});
    ASSERT_GT(gzwrite(f, header.data(), static_cast<unsigned>(header.size())), 0);
    const std::vector<uint8_t> zeros(784 * 1000, 0);
    for (uint32_t i = 0; i < m / 1000; ++i) {
      ASSERT_GT(gzwrite(f, zeros.data(), static_cast<unsigned>(zeros.size())), 0);
    }
    ASSERT_EQ(gzclose(f), Z_OK);
  }
  const double before = peak_rss_mib();
  const IdxArray a = read_idx(t.path("sparse"), 10);
  const IdxArray b = read_idx(t.path("zeros.gz"), 10);
  EXPECT_EQ(a.dims[0], 10u);
  EXPECT_EQ(a.file_rows, n);
  EXPECT_EQ(b.dims[0], 10u);
  EXPECT_EQ(b.file_rows, m);
  EXPECT_EQ(b.data, std::vector<uint8_t>(7840, 0));
  EXPECT_LT(peak_rss_mib() - before, 64.0) << "peak before: " << before << " MiB";
}

TEST(Idx, EveryTypeCodeHasItsElementSize) {
  const std::vector<std::pair<uint8_t, size_t>> types = {{kIdxUbyte, 1}, {kIdxSbyte, 1},
                                                         {kIdxShort, 2}, {kIdxInt, 4},
                                                         {kIdxFloat, 4}, {kIdxDouble, 8}};
  for (const auto& [code, size] : types) {
    SCOPED_TRACE(idx_type_name(code));
    EXPECT_EQ(idx_element_size(code), size);
    const size_t n = 2 * 3 * size;
    const std::vector<uint8_t> ok = make_idx(code, {2, 3}, iota_bytes(n));
    const IdxArray a = parse_idx(ok.data(), ok.size(), "ok");
    EXPECT_EQ(a.type_code, code);
    EXPECT_EQ(a.data, iota_bytes(n));
    const std::vector<uint8_t> short_by_one = make_idx(code, {2, 3}, iota_bytes(n - 1));
    EXPECT_INPUT_ERROR(parse_idx(short_by_one.data(), short_by_one.size(), "s.idx"), "s.idx",
                       "expected " + std::to_string(n) + " data bytes", idx_type_name(code),
                       "1 byte short");
  }
  EXPECT_EQ(idx_element_size(0x0A), 0u);
  EXPECT_STREQ(idx_type_name(0x0A), "unknown");
}

TEST(Idx, FourDimensionsAreAccepted) {
  const std::vector<uint8_t> b = make_idx(kIdxUbyte, {1, 2, 1, 2}, iota_bytes(4));
  EXPECT_EQ(parse_idx(b.data(), b.size(), "x").dims, (std::vector<uint32_t>{1, 2, 1, 2}));
}

TEST(Idx, DataLimitIsInclusive) {
  // 2^17 x 2^17 ubyte is exactly kIdxMaxDataBytes: accepted by the size check, so the error is
  // the missing data, not the limit.
  const std::vector<uint8_t> b = make_idx(kIdxUbyte, {1u << 17, 1u << 17}, {});
  EXPECT_INPUT_ERROR(parse_idx(b.data(), b.size(), "edge"), "expected 17179869184 data bytes",
                     "found 0");
}

// --- Malformed files: I/O ----------------------------------------------------------------------

TEST(IdxMalformed, MissingFile) {
  TempDir t;
  const std::string p = t.path("nope-idx3-ubyte");
  EXPECT_INPUT_ERROR(read_idx(p), p, "no such file");
}

TEST(IdxMalformed, DirectoryInsteadOfFile) {
  TempDir t;
  EXPECT_INPUT_ERROR(read_idx(t.dir()), t.dir(), "directory");
}

TEST(IdxMalformed, UnreadableFile) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads files regardless of permissions";
  TempDir t;
  const std::string p = t.path("locked");
  write_bytes(p, make_idx(kIdxUbyte, {1}, {0}));
  std::filesystem::permissions(p, std::filesystem::perms::none);
  EXPECT_INPUT_ERROR(read_idx(p), p, "cannot be opened");
}

// --- Malformed files: header -------------------------------------------------------------------

TEST(IdxMalformed, EmptyFile) {
  TempDir t;
  const std::string p = t.path("empty");
  write_bytes(p, {});
  EXPECT_INPUT_ERROR(read_idx(p), p, "empty file");
  EXPECT_INPUT_ERROR(parse_idx(nullptr, 0, "mem"), "mem", "empty file");
}

TEST(IdxMalformed, ThreeByteFile) {
  TempDir t;
  const std::string p = t.path("three");
  write_bytes(p, {0, 0, kIdxUbyte});
  EXPECT_INPUT_ERROR(read_idx(p), p, "4-byte IDX magic", "only 3 bytes");
}

TEST(IdxMalformed, HeaderCutInsideDimensionSizes) {
  TempDir t;
  const std::string p = t.path("cut");
  std::vector<uint8_t> b = make_idx(kIdxUbyte, {2, 3, 4}, {});
  b.resize(4 + 4 + 2);  // magic, first size, half of the second
  write_bytes(p, b);
  EXPECT_INPUT_ERROR(read_idx(p), p, "16-byte header for 3 dimensions", "only 10 bytes");
}

TEST(IdxMalformed, NonZeroMagicBytes) {
  TempDir t;
  const std::string p = t.path("magic");
  std::vector<uint8_t> b = make_idx(kIdxUbyte, {1}, {0});
  b[0] = 0x01;
  write_bytes(p, b);
  EXPECT_INPUT_ERROR(read_idx(p), p, "0x00 0x00", "found 0x01 0x00");
  b[0] = 0;
  b[1] = 0x08;
  EXPECT_INPUT_ERROR(parse_idx(b.data(), b.size(), "m2"), "m2", "found 0x00 0x08");
}

TEST(IdxMalformed, GzipBytesGivenToParseIdx) {
  TempDir t;
  write_gzip(t.path("g"), make_idx(kIdxUbyte, {1}, {0}));
  const std::vector<uint8_t> b = read_bytes(t.path("g"));
  EXPECT_INPUT_ERROR(parse_idx(b.data(), b.size(), "g"), "found 0x1F 0x8B", "gzip");
}

TEST(IdxMalformed, UnknownTypeCode) {
  TempDir t;
  const std::string p = t.path("type");
  for (uint8_t code : {0x00, 0x07, 0x0A, 0x0F, 0xFF}) {
    write_bytes(p, make_idx(code, {1}, {0}));
    char found[16];
    std::snprintf(found, sizeof found, "found 0x%02X", code);
    EXPECT_INPUT_ERROR(read_idx(p), p, "type code", found);
  }
}

TEST(IdxMalformed, ZeroDimensions) {
  TempDir t;
  const std::string p = t.path("zero-dims");
  write_bytes(p, {0, 0, kIdxUbyte, 0, 1, 2, 3});
  EXPECT_INPUT_ERROR(read_idx(p), p, "1 to 4 dimensions", "found 0");
}

TEST(IdxMalformed, TooManyDimensions) {
  TempDir t;
  const std::string p = t.path("five-dims");
  write_bytes(p, make_idx(kIdxUbyte, {1, 1, 1, 1, 1}, {0}));
  EXPECT_INPUT_ERROR(read_idx(p), p, "1 to 4 dimensions", "found 5");
}

TEST(IdxMalformed, ZeroSizeDimension) {
  TempDir t;
  const std::string p = t.path("zero-size");
  write_bytes(p, make_idx(kIdxUbyte, {3, 0, 2}, {}));
  EXPECT_INPUT_ERROR(read_idx(p), p, "non-zero dimension sizes", "dimension 1 of 3");
}

TEST(IdxMalformed, SizeProductOverflows) {
  TempDir t;
  const std::string p = t.path("overflow");
  const uint32_t m = 0xFFFFFFFFu;
  write_bytes(p, make_idx(kIdxDouble, {m, m, m, m}, {}));  // 2^128 * 8 bytes
  EXPECT_INPUT_ERROR(read_idx(p), p, "at most 17179869184 data bytes",
                     "4294967295 x 4294967295 x 4294967295 x 4294967295 double");
}

TEST(IdxMalformed, AbsurdSize) {
  const std::vector<uint8_t> b = make_idx(kIdxUbyte, {1u << 17, 1u << 17, 2}, iota_bytes(10));
  EXPECT_INPUT_ERROR(parse_idx(b.data(), b.size(), "huge"), "huge", "at most 17179869184");
  // 2^16 x (2^16 + 1) floats: 2^34 + 2^18 bytes, just over the limit.
  const std::vector<uint8_t> f = make_idx(kIdxFloat, {1u << 16, (1u << 16) + 1}, {});
  EXPECT_INPUT_ERROR(parse_idx(f.data(), f.size(), "huge-float"), "huge-float", "at most");
}

// --- Malformed files: data section -------------------------------------------------------------

TEST(IdxMalformed, DataOneByteShort) {
  TempDir t;
  const std::string p = t.path("short");
  write_bytes(p, make_idx(kIdxUbyte, {2, 3, 4}, iota_bytes(23)));
  EXPECT_INPUT_ERROR(read_idx(p), p, "expected 24 data bytes", "2 x 3 x 4 ubyte", "found 23",
                     "1 byte short");
}

TEST(IdxMalformed, TrailingExtraByte) {
  TempDir t;
  const std::string p = t.path("long");
  write_bytes(p, make_idx(kIdxUbyte, {2, 3, 4}, iota_bytes(25)));
  EXPECT_INPUT_ERROR(read_idx(p), p, "expected 24 data bytes", "found 25", "1 extra byte");
}

TEST(IdxMalformed, GzipOfWrongByteCount) {
  TempDir t;
  const std::string p = t.path("short.gz");
  write_gzip(p, make_idx(kIdxUbyte, {10}, iota_bytes(9)));
  EXPECT_INPUT_ERROR(read_idx(p), p, "1 byte short");
  write_gzip(p, make_idx(kIdxUbyte, {10}, iota_bytes(12)));
  EXPECT_INPUT_ERROR(read_idx(p), p, "2 extra bytes");
}

TEST(IdxMalformed, GzipOfNonIdxData) {
  TempDir t;
  const std::string p = t.path("text.gz");
  write_gzip(p, {'h', 'e', 'l', 'l', 'o'});
  EXPECT_INPUT_ERROR(read_idx(p), p, "0x00 0x00", "found 0x68 0x65");
  write_gzip(p, {});
  EXPECT_INPUT_ERROR(read_idx(p), p, "empty file");
}

// --- Malformed files: gzip stream --------------------------------------------------------------

TEST(IdxMalformed, TruncatedGzip) {
  TempDir t;
  const std::string full = t.path("full.gz");
  write_gzip(full, make_idx(kIdxUbyte, {100}, iota_bytes(100)));
  const std::vector<uint8_t> gz = read_bytes(full);
  const std::string p = t.path("cut.gz");
  for (size_t keep : {size_t{2}, size_t{10}, gz.size() / 2, gz.size() - 8, gz.size() - 1}) {
    SCOPED_TRACE(keep);
    write_bytes(p, std::vector<uint8_t>(gz.begin(), gz.begin() + keep));
    EXPECT_INPUT_ERROR(read_idx(p), p, "complete gzip stream",
                       "cut off after " + std::to_string(keep) + " compressed bytes");
  }
}

TEST(IdxMalformed, GarbageAfterGzipMagic) {
  TempDir t;
  const std::string p = t.path("garbage");
  std::vector<uint8_t> b = {0x1f, 0x8b};
  for (int i = 0; i < 64; ++i) b.push_back(static_cast<uint8_t>(i * 37 + 11));
  write_bytes(p, b);
  EXPECT_INPUT_ERROR(read_idx(p), p, "valid gzip stream", "corrupt data");
}

TEST(IdxMalformed, GzipWithBadChecksum) {
  TempDir t;
  const std::string p = t.path("crc.gz");
  write_gzip(p, make_idx(kIdxUbyte, {100}, iota_bytes(100)));
  std::vector<uint8_t> gz = read_bytes(p);
  gz[gz.size() - 8] ^= 0xFF;  // first byte of the CRC-32 trailer
  write_bytes(p, gz);
  EXPECT_INPUT_ERROR(read_idx(p), p, "corrupt data", "incorrect data check");
}

TEST(IdxMalformed, GzipWithCorruptDeflateData) {
  TempDir t;
  const std::string p = t.path("body.gz");
  write_gzip(p, make_idx(kIdxUbyte, {2000}, iota_bytes(2000)));
  std::vector<uint8_t> gz = read_bytes(p);
  for (size_t i = 10; i < gz.size() - 8; ++i) gz[i] = 0xFF;  // 0xFF: invalid block type 3
  write_bytes(p, gz);
  EXPECT_INPUT_ERROR(read_idx(p), p, "corrupt data");
}

TEST(IdxMalformed, TrailingBytesAfterGzipStream) {
  TempDir t;
  const std::string p = t.path("trail.gz");
  write_gzip(p, make_idx(kIdxUbyte, {3}, iota_bytes(3)));
  write_bytes(p, concat(read_bytes(p), {0, 0, 0}));
  EXPECT_INPUT_ERROR(read_idx(p), p, "end of file after the gzip stream", "3 trailing bytes");
}

}  // namespace
}  // namespace gift::data

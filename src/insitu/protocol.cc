#include "gift/insitu/protocol.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "gift/core/error.h"
#include "gift/io/json.h"
#include "gift/io/model_json.h"

namespace gift::protocol {
namespace {

using Clock = std::chrono::steady_clock;
constexpr char kMagic[4] = {'G', 'I', 'F', 'T'};
constexpr size_t kMaxErrorBytes = 4096;

// ---- little-endian encoding, independent of the host's byte order ----

void put_u32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void put_u64(Bytes& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void put_f32s(Bytes& b, const float* p, size_t n) {
  size_t at = b.size();
  b.resize(at + 4 * n);
  for (size_t i = 0; i < n; ++i, at += 4) {
    uint32_t u;
    std::memcpy(&u, p + i, 4);
    b[at] = static_cast<uint8_t>(u);
    b[at + 1] = static_cast<uint8_t>(u >> 8);
    b[at + 2] = static_cast<uint8_t>(u >> 16);
    b[at + 3] = static_cast<uint8_t>(u >> 24);
  }
}

uint64_t get_le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// Reads fields from a payload, throwing "malformed <TYPE> payload: ..." on a short read.
class Reader {
 public:
  Reader(const Bytes& payload, MessageType type) : b_(payload), what_(to_string(type)) {
    if (b_.size() > kMaxPayload) fail(std::to_string(b_.size()) + " bytes exceed the 1 GiB limit");
  }
  size_t remaining() const { return b_.size() - pos_; }
  uint32_t u32(const char* field) { return static_cast<uint32_t>(get_le(take(4, field), 4)); }
  uint64_t u64(const char* field) { return get_le(take(8, field), 8); }
  uint8_t u8(const char* field) { return *take(1, field); }
  void f32s(float* out, size_t n, const char* field) {
    const uint8_t* p = take(4 * n, field);
    for (size_t i = 0; i < n; ++i, p += 4) {
      const uint32_t u = static_cast<uint32_t>(get_le(p, 4));
      std::memcpy(out + i, &u, 4);
    }
  }
  void expect_end() {
    if (remaining() != 0) fail(std::to_string(remaining()) + " unexpected trailing bytes");
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw InputError("malformed " + what_ + " payload: " + why);
  }

 private:
  const uint8_t* take(size_t n, const char* field) {
    if (n > remaining()) {
      fail("truncated: " + std::string(field) + " needs " + std::to_string(n) + " bytes, " +
           std::to_string(remaining()) + " left");
    }
    const uint8_t* p = b_.data() + pos_;
    pos_ += n;
    return p;
  }
  const Bytes& b_;
  std::string what_;
  size_t pos_ = 0;
};

void check_size(uint64_t bytes, const std::string& what) {
  if (bytes > kMaxPayload) {
    throw InputError(what + " needs " + std::to_string(bytes) +
                     " bytes, above the protocol's limit of 1 GiB per message");
  }
}

// ---- file descriptors: whole-buffer reads and writes with an optional deadline ----

struct Deadline {
  bool infinite = true;
  Clock::time_point at;
  explicit Deadline(int timeout_ms) : infinite(timeout_ms < 0) {
    if (!infinite) at = Clock::now() + std::chrono::milliseconds(timeout_ms);
  }
};

// Waits until `fd` is ready for `events`; returns false when the deadline passes first.
// Throws on a poll failure.
bool wait_ready(int fd, short events, const Deadline& d) {
  for (;;) {
    int ms = -1;
    if (!d.infinite) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(d.at - Clock::now()).count();
      if (left <= 0) return false;
      ms = static_cast<int>(std::min<long long>(left, 1 << 30));
    }
    pollfd p{fd, events, 0};
    const int r = poll(&p, 1, ms);
    if (r > 0) return true;  // ready, or hung up / in error: the read or write will say which
    if (r < 0 && errno != EINTR) throw InputError(std::string("poll: ") + std::strerror(errno));
  }
}

// Reads up to `n` bytes (fewer at end of stream, or when the deadline passes: then
// *timed_out is set); returns the count read.
size_t read_some(int fd, uint8_t* p, size_t n, const Deadline& d, bool* timed_out) {
  size_t got = 0;
  *timed_out = false;
  while (got < n) {
    if (!d.infinite && !wait_ready(fd, POLLIN, d)) {
      *timed_out = true;
      break;
    }
    const ssize_t r = ::read(fd, p + got, n - got);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r == 0) {
      break;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_ready(fd, POLLIN, d)) {
        *timed_out = true;
        break;
      }
    } else if (errno != EINTR) {
      throw InputError(std::string("read failed: ") + std::strerror(errno));
    }
  }
  return got;
}

// Blocks SIGPIPE on this thread while alive; a SIGPIPE raised meanwhile is consumed, so a
// write to a closed pipe fails with EPIPE instead of killing the process.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{0, 0};
        while (sigtimedwait(&set_, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t set_, old_;
  bool was_pending_ = false;
};

// Writes all `n` bytes; returns fewer only when the deadline passes.
size_t write_all(int fd, const uint8_t* p, size_t n, const Deadline& d) {
  size_t done = 0;
  while (done < n) {
    if (!d.infinite && !wait_ready(fd, POLLOUT, d)) break;
    const ssize_t r = ::write(fd, p + done, n - done);
    if (r >= 0) {
      done += static_cast<size_t>(r);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_ready(fd, POLLOUT, d)) break;
    } else if (errno == EPIPE) {
      throw InputError("the other side closed the stream");
    } else if (errno != EINTR) {
      throw InputError(std::string("write failed: ") + std::strerror(errno));
    }
  }
  return done;
}

std::string show_bytes(const uint8_t* p, size_t n) {
  static const char* hex = "0123456789abcdef";
  std::string text, code;
  for (size_t i = 0; i < n; ++i) {
    text += (p[i] >= 0x20 && p[i] < 0x7f) ? static_cast<char>(p[i]) : '.';
    code += (i ? " " : "");
    code += hex[p[i] >> 4];
    code += hex[p[i] & 15];
  }
  return "'" + text + "' (" + code + ")";
}

void check_magic(const uint8_t* p) {
  if (std::memcmp(p, kMagic, 4) != 0) {
    throw InputError("not a gift protocol message: expected magic 'GIFT', found " +
                     show_bytes(p, 4));
  }
}

// At most `max` bytes of `bytes` (not ending inside a UTF-8 sequence), with control
// characters replaced by spaces, so the text stays on one line.
std::string one_line(const char* bytes, size_t size, size_t max) {
  size_t n = std::min(size, max);
  if (n < size) {
    // Do not end inside a UTF-8 sequence: drop trailing continuation bytes and their lead.
    while (n > 0 && (static_cast<unsigned char>(bytes[n - 1]) & 0xC0) == 0x80) --n;
    if (n > 0 && static_cast<unsigned char>(bytes[n - 1]) >= 0xC0) --n;
  }
  std::string m(bytes, n);
  for (char& c : m) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return m;
}

// A JSON value quoted in an error message: its text, cut to about 100 characters. (The
// value comes from io::parse_json, so it is nested at most kMaxJsonDepth deep and dumping
// it cannot recurse far; a long string is cut before it is dumped.)
std::string brief(const nlohmann::json& v) {
  constexpr size_t kMax = 100;
  std::string text;
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    text = nlohmann::json(s.substr(0, kMax + 1))
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    text = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (text.size() <= kMax) return one_line(text.data(), text.size(), kMax);
  return one_line(text.data(), text.size(), kMax) + "...";
}

}  // namespace

std::string to_string(MessageType type) {
  switch (type) {
    case MessageType::kHello:
      return "HELLO";
    case MessageType::kProgram:
      return "PROGRAM";
    case MessageType::kForward:
      return "FORWARD";
    case MessageType::kBye:
      return "BYE";
    case MessageType::kOk:
      return "OK";
    case MessageType::kInfo:
      return "INFO";
    case MessageType::kOutput:
      return "OUTPUT";
    case MessageType::kError:
      return "ERROR";
  }
  return "type " + std::to_string(static_cast<uint32_t>(type));
}

// ---- header ----

Bytes encode_header(MessageType type, uint64_t length) {
  check_size(length, to_string(type));
  Bytes b(kMagic, kMagic + 4);
  put_u32(b, static_cast<uint32_t>(type));
  put_u64(b, length);
  return b;
}

Header decode_header(const uint8_t* data, size_t size) {
  if (size != kHeaderSize) {
    throw InputError("malformed header: expected 16 bytes, found " + std::to_string(size));
  }
  check_magic(data);
  Header h;
  h.type = static_cast<MessageType>(get_le(data + 4, 4));
  h.length = get_le(data + 8, 8);
  if (h.length > kMaxPayload) {
    throw InputError("malformed header: " + to_string(h.type) + " announces " +
                     std::to_string(h.length) + " payload bytes, above the 1 GiB limit");
  }
  return h;
}

void decode_empty(const Bytes& payload, MessageType type) {
  if (!payload.empty()) {
    throw InputError("malformed " + to_string(type) + " payload: expected none, found " +
                     std::to_string(payload.size()) + " bytes");
  }
}

// ---- INFO ----

Bytes encode_info(const DeviceInfo& info) {
  const nlohmann::json j = {{"protocol", kVersion},
                            {"name", info.name},
                            {"taps", info.taps},
                            {"architecture", io::arch_to_json(info.arch)}};
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  check_size(text.size(), "INFO");
  return Bytes(text.begin(), text.end());
}

DeviceInfo decode_info(const Bytes& payload) {
  const std::string what = "malformed INFO payload: ";
  if (payload.size() > kMaxInfoBytes) {
    throw InputError(what + std::to_string(payload.size()) + " bytes, more than the limit of " +
                     std::to_string(kMaxInfoBytes));
  }
  nlohmann::json j;
  try {
    j = io::parse_json(
        std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()),
        "invalid JSON");
  } catch (const InputError& e) {
    throw InputError(what + e.what());
  }
  if (!j.is_object()) throw InputError(what + "expected a JSON object, found " + brief(j));
  const auto field = [&](const char* key) -> const nlohmann::json* {
    const auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
  };
  const nlohmann::json* protocol = field("protocol");
  if (!protocol || !protocol->is_number_integer()) {
    throw InputError(what + "expected an integer \"protocol\"" +
                     (protocol ? ", found " + brief(*protocol) : std::string()));
  }
  if (protocol->get<int64_t>() != kVersion) {
    throw InputError("the device server speaks protocol " + brief(*protocol) +
                     ", this gift speaks protocol " + std::to_string(kVersion));
  }
  const nlohmann::json* name = field("name");
  if (!name || !name->is_string()) throw InputError(what + "expected a string \"name\"");
  const nlohmann::json* taps = field("taps");
  if (!taps || !taps->is_boolean()) throw InputError(what + "expected a boolean \"taps\"");
  const nlohmann::json* arch = field("architecture");
  if (!arch || !arch->is_object()) {
    throw InputError(what + "expected an object \"architecture\"");
  }
  DeviceInfo info;
  const std::string& n = name->get_ref<const std::string&>();
  info.name = one_line(n.data(), n.size(), kMaxNameBytes);
  info.taps = taps->get<bool>();
  info.arch = io::arch_from_json(*arch, what + "architecture");
  return info;
}

// ---- PROGRAM ----

Bytes encode_program(const Vec& params) {
  const size_t n = static_cast<size_t>(params.size());
  check_size(8 + 4 * static_cast<uint64_t>(n), "PROGRAM");
  Bytes b;
  b.reserve(8 + 4 * n);
  put_u64(b, n);
  put_f32s(b, params.data(), n);
  return b;
}

Vec decode_program(const Bytes& payload) {
  Reader r(payload, MessageType::kProgram);
  const uint64_t count = r.u64("the parameter count");
  if (count != r.remaining() / 4 || r.remaining() % 4 != 0) {
    r.fail("announces " + std::to_string(count) + " parameters but carries " +
           std::to_string(r.remaining()) + " bytes of data");
  }
  Vec params(static_cast<Eigen::Index>(count));
  r.f32s(params.data(), count, "the parameters");
  return params;
}

// ---- FORWARD ----

Bytes encode_forward(const Mat& x, bool taps) {
  const uint64_t B = static_cast<uint64_t>(x.rows()), I = static_cast<uint64_t>(x.cols());
  check_size(12 + 4 * B * I, "a FORWARD of " + std::to_string(B) + " x " + std::to_string(I) +
                                 " inputs (split the batch)");
  Bytes b;
  b.reserve(12 + 4 * B * I);
  put_u32(b, static_cast<uint32_t>(B));
  put_u32(b, static_cast<uint32_t>(I));
  b.push_back(taps ? 1 : 0);
  b.insert(b.end(), 3, 0);
  put_f32s(b, x.data(), B * I);  // x is row-major
  return b;
}

ForwardRequest decode_forward(const Bytes& payload) {
  Reader r(payload, MessageType::kForward);
  const uint64_t B = r.u32("rows B"), I = r.u32("cols I");
  const uint8_t taps = r.u8("the taps flag");
  const uint8_t pad[3] = {r.u8("padding"), r.u8("padding"), r.u8("padding")};
  if (I < 1) r.fail("cols I must be >= 1, found 0");
  if (taps > 1) r.fail("the taps flag must be 0 or 1, found " + std::to_string(taps));
  if (pad[0] || pad[1] || pad[2]) r.fail("bytes 9-11 must be zero");
  if (r.remaining() % 4 != 0 || B * I != r.remaining() / 4) {
    r.fail("announces " + std::to_string(B) + " x " + std::to_string(I) + " floats but carries " +
           std::to_string(r.remaining()) + " bytes of data");
  }
  ForwardRequest f;
  f.taps = taps == 1;
  f.x.resize(static_cast<Eigen::Index>(B), static_cast<Eigen::Index>(I));
  r.f32s(f.x.data(), B * I, "the inputs");
  return f;
}

// ---- OUTPUT ----

Bytes encode_output(const DeviceOutput& out) {
  uint64_t bytes = 4;
  std::vector<const Mat*> mats;
  for (const Mat& m : out.sums) mats.push_back(&m);
  mats.push_back(&out.out);
  for (const Mat* m : mats) bytes += 8 + 4 * static_cast<uint64_t>(m->size());
  check_size(bytes, "OUTPUT");
  Bytes b;
  b.reserve(bytes);
  put_u32(b, static_cast<uint32_t>(mats.size()));
  for (const Mat* m : mats) {
    put_u32(b, static_cast<uint32_t>(m->rows()));
    put_u32(b, static_cast<uint32_t>(m->cols()));
    put_f32s(b, m->data(), static_cast<size_t>(m->size()));
  }
  return b;
}

DeviceOutput decode_output(const Bytes& payload) {
  Reader r(payload, MessageType::kOutput);
  const uint32_t M = r.u32("the matrix count M");
  if (M < 1) r.fail("M must be >= 1 (the final output), found 0");
  if (M > r.remaining() / 8) {
    r.fail("announces " + std::to_string(M) + " matrices but carries only " +
           std::to_string(r.remaining()) + " bytes");
  }
  std::vector<Mat> mats(M);
  for (uint32_t k = 0; k < M; ++k) {
    const uint64_t rows = r.u32("rows"), cols = r.u32("cols");
    if (cols < 1) r.fail("matrix " + std::to_string(k) + " has 0 columns");
    if (rows * cols > r.remaining() / 4) {
      r.fail("matrix " + std::to_string(k) + " announces " + std::to_string(rows) + " x " +
             std::to_string(cols) + " floats but only " + std::to_string(r.remaining()) +
             " bytes are left");
    }
    mats[k].resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    r.f32s(mats[k].data(), rows * cols, "a matrix");
  }
  r.expect_end();
  DeviceOutput out;
  out.out = std::move(mats.back());
  mats.pop_back();
  out.sums = std::move(mats);
  return out;
}

// ---- ERROR ----

Bytes encode_error(const std::string& message) {
  const std::string m = message.substr(0, kMaxErrorBytes);
  return Bytes(m.begin(), m.end());
}

std::string decode_error(const Bytes& payload) {
  std::string m =
      one_line(reinterpret_cast<const char*>(payload.data()), payload.size(), kMaxErrorBytes);
  if (m.empty()) m = "(no message)";
  return m;
}

// ---- streams ----

TimeoutError::TimeoutError(int timeout_ms, uint64_t bytes_done_, std::string progress_)
    : InputError("timed out after " + std::to_string(timeout_ms) + " ms (" + progress_ + ")"),
      bytes_done(bytes_done_),
      progress(std::move(progress_)) {}

void write_message(int fd, MessageType type, const Bytes& payload, int timeout_ms) {
  const Bytes header = encode_header(type, payload.size());
  const Deadline d(timeout_ms);
  const SigpipeGuard guard;
  const uint64_t total = header.size() + payload.size();
  size_t done = write_all(fd, header.data(), header.size(), d);
  if (done == header.size()) done += write_all(fd, payload.data(), payload.size(), d);
  if (done < total) {
    throw TimeoutError(timeout_ms, done,
                       std::to_string(done) + " of " + std::to_string(total) + " bytes written");
  }
}

bool read_message(int fd, Message& msg, int timeout_ms, uint64_t max_payload) {
  const Deadline d(timeout_ms);
  bool timed_out = false;
  const auto header_timeout = [&](size_t got) {
    return TimeoutError(
        timeout_ms, got,
        got == 0 ? std::string("nothing received") : std::to_string(got) + " of 16 header bytes");
  };
  uint8_t h[kHeaderSize] = {};
  size_t got = read_some(fd, h, 4, d, &timed_out);
  if (got == 0 && timed_out) throw header_timeout(0);
  if (got == 0) return false;
  if (std::memcmp(h, kMagic, got) != 0) {
    throw InputError("not a gift protocol message: expected magic 'GIFT', found " +
                     show_bytes(h, got) + (got < 4 ? " and the end of the stream" : ""));
  }
  if (got == 4) got += read_some(fd, h + 4, kHeaderSize - 4, d, &timed_out);
  if (got < kHeaderSize) {
    if (timed_out) throw header_timeout(got);
    throw InputError("the stream ended inside a message header (" + std::to_string(got) +
                     " of 16 bytes)");
  }
  const Header header = decode_header(h, kHeaderSize);
  if (header.length > max_payload) {
    throw InputError(to_string(header.type) + " announces " + std::to_string(header.length) +
                     " payload bytes, more than the " + std::to_string(max_payload) +
                     " this reply may hold");
  }
  msg.type = header.type;
  msg.payload.clear();
  // Grow the buffer as data arrives, so a header announcing a huge payload that never
  // comes costs no huge allocation.
  while (msg.payload.size() < header.length) {
    const size_t have = msg.payload.size();
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(header.length, std::max<uint64_t>(2 * have, 1 << 16)));
    msg.payload.resize(want);
    const size_t n = read_some(fd, msg.payload.data() + have, want - have, d, &timed_out);
    if (n < want - have) {
      const std::string progress = std::to_string(have + n) + " of " +
                                   std::to_string(header.length) + " payload bytes of " +
                                   to_string(header.type);
      if (timed_out) throw TimeoutError(timeout_ms, kHeaderSize + have + n, progress);
      throw InputError("the stream ended inside the payload of " + to_string(header.type) + " (" +
                       std::to_string(have + n) + " of " + std::to_string(header.length) +
                       " bytes)");
    }
  }
  return true;
}

}  // namespace gift::protocol

// The protocol's pure encoders and decoders on byte vectors (round trips, and rejection
// of truncated, oversized and inconsistent payloads), message I/O on pipes, and the server
// loop serve_device driven with raw requests.
#include "gift/insitu/protocol.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "../test_util.h"
#include "device_test_util.h"
#include "gift/core/error.h"
#include "gift/insitu/simulated_device.h"

namespace gift::protocol {
namespace {

Bytes le32(uint32_t v) { return {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)}; }
Bytes le64(uint64_t v) {
  Bytes b = le32(static_cast<uint32_t>(v)), hi = le32(static_cast<uint32_t>(v >> 32));
  b.insert(b.end(), hi.begin(), hi.end());
  return b;
}
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes b;
  for (const Bytes& p : parts) b.insert(b.end(), p.begin(), p.end());
  return b;
}
Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

// Expects decode(payload) to throw InputError whose message contains `part`.
template <class F>
void expect_reject(F&& decode, const Bytes& payload, const std::string& part) {
  EXPECT_INPUT_ERROR(decode(payload), part);
}

// Floats whose bits must survive: NaN with a payload, signed zero, infinities, subnormals.
Vec awkward_floats() {
  Vec v(8);
  uint32_t nan_bits = 0x7fc12345u;
  float nan;
  std::memcpy(&nan, &nan_bits, 4);
  v << 1.5f, -0.0f, nan, std::numeric_limits<float>::infinity(),
      -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::denorm_min(), -3.25e-20f,
      123456.789f;
  return v;
}

TEST(Protocol, HeaderLayoutAndChecks) {
  const Bytes h = encode_header(MessageType::kForward, 0x01020304ull);
  EXPECT_EQ(h, cat({text("GIFT"), le32(3), le64(0x01020304ull)}));
  const Header d = decode_header(h.data(), h.size());
  EXPECT_EQ(d.type, MessageType::kForward);
  EXPECT_EQ(d.length, 0x01020304ull);
  EXPECT_THROW(decode_header(h.data(), 15), InputError);
  Bytes bad = h;
  bad[0] = 'g';
  EXPECT_THROW(decode_header(bad.data(), bad.size()), InputError);
  const Bytes big = cat({text("GIFT"), le32(130), le64(kMaxPayload + 1)});
  EXPECT_THROW(decode_header(big.data(), big.size()), InputError);
  EXPECT_THROW(encode_header(MessageType::kOutput, kMaxPayload + 1), InputError);
  // Unknown types decode (the server answers them with ERROR).
  const Bytes odd = cat({text("GIFT"), le32(77), le64(0)});
  EXPECT_EQ(to_string(decode_header(odd.data(), odd.size()).type), "type 77");
}

TEST(Protocol, EmptyPayloads) {
  EXPECT_NO_THROW(decode_empty({}, MessageType::kOk));
  EXPECT_THROW(decode_empty({0}, MessageType::kHello), InputError);
}

TEST(Protocol, InfoRoundTripAndRejects) {
  DeviceInfo info;
  info.arch = test::small_arch(Activation::kSigmoid, 0.3);
  info.taps = false;
  info.name = "chip \"A\" \xc3\xa9";
  const DeviceInfo back = decode_info(encode_info(info));
  EXPECT_EQ(back.arch.sizes, info.arch.sizes);
  EXPECT_EQ(back.arch.activations, info.arch.activations);
  EXPECT_EQ(back.arch.w_max, info.arch.w_max);  // exact through JSON
  EXPECT_EQ(back.taps, false);
  EXPECT_EQ(back.name, info.name);

  const auto dec = [](const Bytes& b) { decode_info(b); };
  const std::string arch = R"("architecture":{"sizes":[6,3],"activations":["linear"],"w_max":1})";
  EXPECT_NO_THROW(
      decode_info(text(R"({"protocol":1,"name":"x","taps":true,"extra":[1],)" + arch + "}")));
  expect_reject(dec, text("{\"protocol\":1"), "invalid JSON");
  expect_reject(dec, text("[1]"), "JSON object");
  expect_reject(dec, text("\xff\xfe"), "invalid JSON");
  expect_reject(dec, text(R"({"name":"x"})"), "protocol");
  expect_reject(dec, text(R"({"protocol":"1"})"), "protocol");
  expect_reject(dec, text(R"({"protocol":2,"name":"x"})"), "speaks protocol 2");
  expect_reject(dec, text(R"({"protocol":1,"taps":true,)" + arch + "}"), "name");
  expect_reject(dec, text(R"({"protocol":1,"name":"x","taps":1,)" + arch + "}"), "taps");
  expect_reject(dec, text(R"({"protocol":1,"name":"x","taps":true})"), "architecture");
  const auto with_arch = [](const std::string& a) {
    return text(R"({"protocol":1,"name":"x","taps":true,"architecture":)" + a + "}");
  };
  expect_reject(dec, with_arch(R"({"sizes":[6,3],"activations":["linear"]})"), "w_max");
  expect_reject(dec, with_arch(R"({"sizes":[6,0],"activations":["linear"],"w_max":1})"), "widths");
  expect_reject(dec, with_arch(R"({"sizes":[6,1e12],"activations":["linear"],"w_max":1})"),
                "widths");
  expect_reject(dec, with_arch(R"({"sizes":[6,5000000000],"activations":["linear"],"w_max":1})"),
                "widths");
  expect_reject(dec, with_arch(R"({"sizes":[6,3],"activations":["gelu"],"w_max":1})"), "gelu");
  expect_reject(dec, with_arch(R"({"sizes":[6,3],"activations":[1],"w_max":1})"), "strings");
  expect_reject(dec, with_arch(R"({"sizes":[6,3,2],"activations":["linear"],"w_max":1})"),
                "widths");
  expect_reject(dec, with_arch(R"({"sizes":[6,3],"activations":["linear"],"w_max":-1})"), "w_max");
}

// A server's INFO may be hostile: nested 10^5 levels deep, huge, or holding control
// characters. Decoding fails with a short one-line message (no recursion over the input, no
// unbounded quote of it) or keeps a bounded one-line name.
TEST(Protocol, InfoFromAHostileServerIsBounded) {
  const auto message_of = [](const std::string& json) {
    SCOPED_TRACE(json.substr(0, 80));
    return test::input_error_message([&] { decode_info(text(json)); });
  };
  const auto expect_short = [](const std::string& e, const std::string& part) {
    EXPECT_NE(e.find(part), std::string::npos) << e;
    EXPECT_LT(e.size(), 400u) << e.substr(0, 400);
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  };
  const size_t n = 100000;
  expect_short(message_of(std::string(n, '[') + std::string(n, ']')), "nested deeper than 64");
  expect_short(message_of("{\"protocol\":" + std::string(n, '[') + "1" + std::string(n, ']') + "}"),
               "nested deeper than 64");
  // Deep enough to pass the parser, and each quoted value cut to about 100 characters.
  expect_short(
      message_of("{\"protocol\":" + std::string(60, '[') + "1" + std::string(60, ']') + "}"),
      "expected an integer \"protocol\", found [[[[");
  const std::string huge(1 << 19, 'x');
  expect_short(message_of("{\"protocol\":\"" + huge + "\"}"), "found \"xxxx");
  expect_short(message_of(std::string(kMaxInfoBytes + 1, ' ')), "more than the limit");
  const std::string arch = R"("architecture":{"sizes":[6,3],"activations":["linear"],"w_max":1})";
  const auto with_name = [&](const std::string& name) {
    return R"({"protocol":1,"taps":true,)" + arch + R"(,"name":")" + name + "\"}";
  };
  expect_short(message_of(R"({"protocol":1,"name":"x","taps":true,"architecture":{"sizes":[6,")" +
                          huge + R"("],"activations":["linear"],"w_max":1}})"),
               "widths must be integers");
  expect_short(message_of(R"({"protocol":1,"name":"x","taps":true,"architecture":{"sizes":[6,3],)"
                          R"("activations":[")" +
                          huge + R"(\n"],"w_max":1}})"),
               "unknown activation");
  const DeviceInfo info = decode_info(text(with_name(huge + "\\nsecond line")));
  EXPECT_EQ(info.name.size(), kMaxNameBytes);
  EXPECT_EQ(decode_info(text(with_name("a\\nb\\tc"))).name, "a b c");
}

TEST(Protocol, ProgramRoundTripIsBitwise) {
  const Vec p = awkward_floats();
  const Bytes b = encode_program(p);
  EXPECT_EQ(b.size(), 8 + 4 * 8u);
  EXPECT_EQ(Bytes(b.begin(), b.begin() + 8), le64(8));
  const Vec back = decode_program(b);
  ASSERT_EQ(back.size(), p.size());
  EXPECT_EQ(std::memcmp(back.data(), p.data(), 4 * 8), 0);
  EXPECT_EQ(decode_program(le64(0)).size(), 0);
}

TEST(Protocol, ProgramRejectsInconsistentPayloads) {
  const auto dec = [](const Bytes& b) { decode_program(b); };
  expect_reject(dec, {1, 2, 3}, "truncated");
  expect_reject(dec, cat({le64(3), Bytes(8)}), "announces 3 parameters");
  expect_reject(dec, cat({le64(1), Bytes(8)}), "announces 1 parameters");
  expect_reject(dec, cat({le64(2), Bytes(9)}), "announces 2 parameters");
  expect_reject(dec, cat({le64(uint64_t{1} << 62), Bytes(4)}), "announces");  // 4 * count wraps
  expect_reject(dec, cat({le64(~uint64_t{0}), Bytes(4)}), "announces");
}

TEST(Protocol, ForwardRoundTripAndLayout) {
  Mat x(2, 3);
  x << 1, 2, 3, 4, 5, 6;
  const Bytes b = encode_forward(x, true);
  float four = 4;
  uint32_t four_bits;
  std::memcpy(&four_bits, &four, 4);
  // Row-major: the 4th float is x(1, 0) = 4.
  EXPECT_EQ(Bytes(b.begin(), b.begin() + 12), cat({le32(2), le32(3), Bytes{1, 0, 0, 0}}));
  EXPECT_EQ(Bytes(b.begin() + 24, b.begin() + 28), le32(four_bits));
  const ForwardRequest f = decode_forward(b);
  EXPECT_TRUE(f.taps);
  test::expect_bitwise(f.x, x, "forward");
  EXPECT_FALSE(decode_forward(encode_forward(x, false)).taps);
  const ForwardRequest empty = decode_forward(encode_forward(Mat(0, 6), false));
  EXPECT_EQ(empty.x.rows(), 0);
  EXPECT_EQ(empty.x.cols(), 6);
}

TEST(Protocol, ForwardRejectsInconsistentPayloads) {
  const auto dec = [](const Bytes& b) { decode_forward(b); };
  const auto head = [](uint32_t B, uint32_t I, uint8_t taps, uint8_t pad) {
    return cat({le32(B), le32(I), Bytes{taps, pad, 0, 0}});
  };
  expect_reject(dec, Bytes(11), "truncated");
  expect_reject(dec, cat({head(1, 0, 0, 0)}), "cols I must be >= 1");
  expect_reject(dec, cat({head(1, 1, 2, 0), Bytes(4)}), "taps flag");
  expect_reject(dec, cat({head(1, 1, 1, 7), Bytes(4)}), "must be zero");
  expect_reject(dec, cat({head(2, 3, 0, 0), Bytes(20)}), "announces 2 x 3");
  expect_reject(dec, cat({head(2, 3, 0, 0), Bytes(28)}), "announces 2 x 3");
  expect_reject(dec, cat({head(2, 3, 0, 0), Bytes(25)}), "announces 2 x 3");
  expect_reject(dec, cat({head(0xffffffffu, 0xffffffffu, 0, 0), Bytes(16)}), "announces");
  expect_reject(dec, cat({head(0x40000000u, 4, 0, 0)}), "announces");
}

TEST(Protocol, OutputRoundTripIsBitwise) {
  DeviceOutput o;
  o.sums = {Mat(2, 5), Mat(2, 4), Mat(2, 3)};
  for (size_t l = 0; l < 3; ++l) o.sums[l] = test::make_inputs(2, int(5 - l), uint32_t(l));
  o.out = test::make_inputs(2, 3, 9);
  o.out(1, 2) = awkward_floats()[2];  // a NaN payload
  const DeviceOutput back = decode_output(encode_output(o));
  ASSERT_EQ(back.sums.size(), 3u);
  for (size_t l = 0; l < 3; ++l) test::expect_bitwise(back.sums[l], o.sums[l], "sum");
  test::expect_bitwise(back.out, o.out, "out");

  DeviceOutput bare;
  bare.out = Mat(0, 3);
  const Bytes b = encode_output(bare);
  EXPECT_EQ(b, cat({le32(1), le32(0), le32(3)}));
  const DeviceOutput back2 = decode_output(b);
  EXPECT_TRUE(back2.sums.empty());
  EXPECT_EQ(back2.out.cols(), 3);
}

TEST(Protocol, OutputRejectsInconsistentPayloads) {
  const auto dec = [](const Bytes& b) { decode_output(b); };
  const Bytes one_by_one = cat({le32(1), le32(1), Bytes(4)});
  expect_reject(dec, Bytes(3), "truncated");
  expect_reject(dec, le32(0), "M must be >= 1");
  expect_reject(dec, cat({le32(0xffffffffu), one_by_one}), "announces 4294967295 matrices");
  expect_reject(dec, cat({le32(2), one_by_one}), "announces 2 matrices");
  expect_reject(dec, cat({le32(2), one_by_one, le32(1), le32(1)}),
                "matrix 1 announces 1 x 1 floats but only 0 bytes");
  expect_reject(dec, cat({le32(1), le32(2), le32(2), Bytes(12)}), "matrix 0 announces 2 x 2");
  expect_reject(dec, cat({le32(1), le32(3), le32(0)}), "0 columns");
  expect_reject(dec, cat({le32(1), one_by_one, Bytes(1)}), "trailing");
  expect_reject(dec, cat({le32(1), le32(0xffffffffu), le32(0xffffffffu), Bytes(8)}), "announces");
}

TEST(Protocol, ErrorMessagesStayOneLine) {
  EXPECT_EQ(decode_error(encode_error("bad\nthing\t!")), "bad thing !");
  EXPECT_EQ(decode_error({}), "(no message)");
  const std::string long_message(5000, 'x');
  EXPECT_EQ(decode_error(text(long_message)).size(), 4096u);
  // Cut at the limit without splitting a UTF-8 sequence (2-byte "é" across byte 4096).
  const std::string accented = std::string(4095, 'a') + "\xc3\xa9" + "tail";
  EXPECT_EQ(decode_error(text(accented)), std::string(4095, 'a'));
}

// ---- streams ----

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  void close_read() {
    if (r >= 0) close(r);
    r = -1;
  }
  void close_write() {
    if (w >= 0) close(w);
    w = -1;
  }
  void raw(const Bytes& b) { ASSERT_EQ(write(w, b.data(), b.size()), ssize_t(b.size())); }
};

TEST(Protocol, MessagesOverAPipe) {
  Pipe p;
  const Bytes payload = encode_program(awkward_floats());
  write_message(p.w, MessageType::kProgram, payload);
  write_message(p.w, MessageType::kBye, {});
  p.close_write();
  Message m;
  ASSERT_TRUE(read_message(p.r, m));
  EXPECT_EQ(m.type, MessageType::kProgram);
  EXPECT_EQ(m.payload, payload);
  ASSERT_TRUE(read_message(p.r, m));
  EXPECT_EQ(m.type, MessageType::kBye);
  EXPECT_TRUE(m.payload.empty());
  EXPECT_FALSE(read_message(p.r, m));  // a clean end of stream
}

TEST(Protocol, ReadRejectsBrokenStreams) {
  const auto read_of = [](const Bytes& b) {
    Pipe p;
    p.raw(b);
    p.close_write();
    Message m;
    read_message(p.r, m);
  };
  expect_reject(read_of, text("hello\n"), "expected magic 'GIFT', found 'hell'");
  expect_reject(read_of, text("GI"), "ended inside a message header (2 of 16");
  expect_reject(read_of, text("GIFT\x01"), "ended inside a message header (5 of 16");
  expect_reject(read_of, cat({encode_header(MessageType::kInfo, 10), text("abc")}),
                "ended inside the payload of INFO (3 of 10");
  // A huge announced payload that never comes fails without allocating it.
  expect_reject(read_of, cat({encode_header(MessageType::kOutput, kMaxPayload), text("abc")}),
                "ended inside the payload of OUTPUT");
  expect_reject(read_of, cat({text("GIFT"), le32(129), le64(kMaxPayload + 1)}), "1 GiB");
}

TEST(Protocol, ReadAndWriteTimeOut) {
  // The deadline covers the whole message, and the error says how far it got.
  const auto timeout_of = [](const Bytes& sent) {
    Pipe p;
    p.raw(sent);  // the write end stays open: the rest never comes
    Message m;
    try {
      read_message(p.r, m, 50);
    } catch (const TimeoutError& e) {
      return std::make_pair(e.bytes_done, e.progress);
    }
    ADD_FAILURE() << "no timeout";
    return std::make_pair(uint64_t{0}, std::string());
  };
  EXPECT_EQ(timeout_of({}), std::make_pair(uint64_t{0}, std::string("nothing received")));
  EXPECT_EQ(timeout_of(text(std::string("GIFT\x82\0\0", 7))),
            std::make_pair(uint64_t{7}, std::string("7 of 16 header bytes")));
  EXPECT_EQ(timeout_of(cat({encode_header(MessageType::kOutput, 100), Bytes(10)})),
            std::make_pair(uint64_t{26}, std::string("10 of 100 payload bytes of OUTPUT")));
  Pipe p;
  fcntl(p.w, F_SETFL, fcntl(p.w, F_GETFL) | O_NONBLOCK);
  const Bytes big(1 << 20);  // more than a pipe holds, and nobody reads
  try {
    write_message(p.w, MessageType::kInfo, big, 50);
    ADD_FAILURE() << "no timeout";
  } catch (const TimeoutError& e) {
    EXPECT_GT(e.bytes_done, 0u);
    EXPECT_LT(e.bytes_done, big.size());
    EXPECT_NE(e.progress.find("bytes written"), std::string::npos) << e.progress;
    EXPECT_NE(std::string(e.what()).find("timed out after 50 ms"), std::string::npos) << e.what();
  }
}

TEST(Protocol, ReadRefusesAPayloadAboveTheCallersLimitFromTheHeader) {
  Pipe p;
  p.raw(encode_header(MessageType::kOutput, 1000));  // and no payload: it is never read
  Message m;
  // No deadline: a read of the payload would hang.
  EXPECT_INPUT_ERROR(read_message(p.r, m, -1, 999),
                     "OUTPUT announces 1000 payload bytes, more than the 999");
  Pipe q;
  q.raw(cat({encode_header(MessageType::kOk, 3), text("abc")}));
  ASSERT_TRUE(read_message(q.r, m, -1, 3));
  EXPECT_EQ(m.payload, text("abc"));
}

TEST(Protocol, WriteToAClosedPipeThrowsInsteadOfRaisingSigpipe) {
  Pipe p;
  p.close_read();
  EXPECT_INPUT_ERROR(write_message(p.w, MessageType::kHello, {}), "closed the stream");
}

// ---- serve_device ----

// Feeds `requests` (already framed) to serve_device over pipes; returns its return value
// (or -1 if it threw) and the replies it wrote.
struct Served {
  int rc = 0;
  std::string thrown;
  std::vector<Message> replies;
};

Served serve(Device& dev, const Bytes& requests) {
  Pipe in, out;
  in.raw(requests);  // small: fits in the pipe buffer
  in.close_write();
  Served s;
  try {
    s.rc = serve_device(dev, in.r, out.w);
  } catch (const InputError& e) {
    s.rc = -1;
    s.thrown = e.what();
  }
  out.close_write();
  Message m;
  while (read_message(out.r, m)) s.replies.push_back(m);
  return s;
}

Bytes framed(MessageType type, const Bytes& payload = {}) {
  return cat({encode_header(type, payload.size()), payload});
}

TEST(ServeDevice, AnswersEveryRequestAndStopsAtBye) {
  const Architecture arch = test::small_arch();
  SimulatedDevice dev(arch, SimulatedDeviceOptions{});
  const Network net = test::make_net(arch, 1);
  const Mat x = test::make_inputs(3, 6, 1);
  const Served s = serve(
      dev, cat({framed(MessageType::kHello), framed(MessageType::kForward, encode_forward(x, true)),
                framed(MessageType::kProgram, encode_program(net.params())),
                framed(MessageType::kForward, encode_forward(x, true)), framed(MessageType::kBye),
                framed(MessageType::kHello)}));  // after BYE: never read
  EXPECT_EQ(s.rc, 0);
  ASSERT_EQ(s.replies.size(), 5u);
  EXPECT_EQ(s.replies[0].type, MessageType::kInfo);
  EXPECT_EQ(decode_info(s.replies[0].payload).arch.sizes, arch.sizes);
  EXPECT_EQ(s.replies[1].type, MessageType::kError);
  EXPECT_EQ(decode_error(s.replies[1].payload),
            "device: forward before any weights were programmed");
  EXPECT_EQ(s.replies[2].type, MessageType::kOk);
  EXPECT_TRUE(s.replies[2].payload.empty());
  ASSERT_EQ(s.replies[3].type, MessageType::kOutput);
  EXPECT_EQ(decode_output(s.replies[3].payload).sums.size(), 3u);
  EXPECT_EQ(s.replies[4].type, MessageType::kOk);
  EXPECT_EQ(dev.counters().forwards, 1u);
}

TEST(ServeDevice, BadRequestsGetErrorAndServingGoesOn) {
  const Architecture arch = test::small_arch();
  SimulatedDevice dev(arch, SimulatedDeviceOptions{});
  Vec short_params = Vec::Zero(10);
  const Served s =
      serve(dev, cat({framed(static_cast<MessageType>(77), text("ignored")),
                      framed(MessageType::kProgram, encode_program(short_params)),
                      framed(MessageType::kProgram, Bytes{1, 2}),
                      framed(MessageType::kForward, cat({le32(1), le32(6), Bytes{0, 0, 0, 0}})),
                      framed(MessageType::kHello, Bytes{1}), framed(MessageType::kOk),
                      framed(MessageType::kBye, Bytes{0}), framed(MessageType::kBye)}));
  EXPECT_EQ(s.rc, 0);
  ASSERT_EQ(s.replies.size(), 8u);
  const char* expected[] = {"unknown request type 77",   "PROGRAM carries 10 parameters",
                            "malformed PROGRAM payload", "malformed FORWARD payload",
                            "malformed HELLO payload",   "unknown request OK",
                            "malformed BYE payload"};
  for (int i = 0; i < 7; ++i) {
    ASSERT_EQ(s.replies[i].type, MessageType::kError) << i;
    const std::string m = decode_error(s.replies[i].payload);
    EXPECT_NE(m.find(expected[i]), std::string::npos) << m;
  }
  EXPECT_EQ(s.replies[7].type, MessageType::kOk);
  EXPECT_EQ(dev.counters().programmings, 0u);
}

TEST(ServeDevice, EndOfStreamAndBrokenHeaders) {
  SimulatedDevice dev(test::small_arch(), SimulatedDeviceOptions{});
  Served s = serve(dev, framed(MessageType::kHello));
  EXPECT_EQ(s.rc, 1);  // closed without BYE
  EXPECT_EQ(s.replies.size(), 1u);
  s = serve(dev, cat({framed(MessageType::kHello), text("garbage, not a header")}));
  EXPECT_EQ(s.rc, -1);
  EXPECT_NE(s.thrown.find("expected magic"), std::string::npos) << s.thrown;
  ASSERT_EQ(s.replies.size(), 2u);  // INFO, then an ERROR explaining the stop
  EXPECT_EQ(s.replies[1].type, MessageType::kError);
  EXPECT_NE(decode_error(s.replies[1].payload).find("malformed request"), std::string::npos);
}

}  // namespace
}  // namespace gift::protocol

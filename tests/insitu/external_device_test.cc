// ExternalDevice against servers that misbehave: every failure is a one-line InputError
// naming the server, never a hang or a SIGPIPE; ERROR replies keep the device usable.
// (Its conformance as a Device is checked in device_test.cc.)
#include "gift/insitu/external_device.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <string>

#include "../test_util.h"
#include "device_test_util.h"
#include "gift/core/error.h"
#include "gift/core/interrupt.h"
#include "gift/io/checkpoint.h"

namespace gift {
namespace {

using protocol::Bytes;
using protocol::MessageType;
using test::make_inputs;
using test::make_net;
using test::small_arch;

std::string construct_error(std::vector<std::string> argv, ExternalDeviceOptions o = {}) {
  return test::input_error_message([&] { ExternalDevice d(std::move(argv), o); });
}

// A file holding `messages` (header + payload each), for a fake server to `cat`.
// A file holding `messages` (header + payload each) and then the raw bytes `tail`, for a fake
// server to `cat` (in one write: it all arrives at once).
std::string canned(const std::string& name,
                   const std::vector<std::pair<MessageType, Bytes>>& messages,
                   const Bytes& tail = {}) {
  const std::string path = ::testing::TempDir() + "/gift_ext_" + name + ".bin";
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  for (const auto& [type, payload] : messages) {
    const Bytes h = protocol::encode_header(type, payload.size());
    f.write(reinterpret_cast<const char*>(h.data()), static_cast<std::streamsize>(h.size()));
    f.write(reinterpret_cast<const char*>(payload.data()),
            static_cast<std::streamsize>(payload.size()));
  }
  f.write(reinterpret_cast<const char*>(tail.data()), static_cast<std::streamsize>(tail.size()));
  return path;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

Bytes small_info() {
  DeviceInfo info;
  info.arch = small_arch();
  info.name = "fake";
  return protocol::encode_info(info);
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(ExternalDevice, RejectsAnEmptyCommandAndBadOptions) {
  EXPECT_TRUE(contains(construct_error({}), "empty"));
  ExternalDeviceOptions o;
  o.reply_timeout_s = -1;
  EXPECT_TRUE(contains(construct_error({"/bin/true"}, o), "reply_timeout_s"));
}

TEST(ExternalDevice, CommandThatDoesNotExistIsAClearError) {
  const std::string e = construct_error({"/nonexistent/gift-chip-server", "--x"});
  EXPECT_TRUE(contains(e, "cannot start device server '/nonexistent/gift-chip-server'")) << e;
  EXPECT_TRUE(contains(e, "No such file")) << e;
  EXPECT_TRUE(contains(construct_error({"gift-no-such-command-in-path"}), "cannot start"));
}

TEST(ExternalDevice, AServerRunByAnInterpreterIsNamedByItsScript) {
  // Every Python server would otherwise be "device server '/usr/bin/python3'".
  const std::string e = construct_error({"/bin/sh", "/dev/null"});  // an empty script: exits
  EXPECT_TRUE(contains(e, "device server '/bin/sh /dev/null'")) << e;
}

TEST(ExternalDevice, ServerThatExitsAtOnceIsAClearError) {
  for (std::vector<std::string> argv : {std::vector<std::string>{"/bin/false"},
                                        {"/bin/true"},
                                        {"/bin/sh", "-c", "exec 0<&-; exit 3"}}) {
    const std::string e = construct_error(argv);
    EXPECT_TRUE(contains(e, "device server '" + argv[0] + "'")) << e;
    EXPECT_TRUE(contains(e, "HELLO")) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
  EXPECT_TRUE(contains(construct_error({"/bin/sh", "-c", "exit 3"}), "exited with status 3"));
  // The reference server with a bad option exits before the handshake.
  const std::string e = construct_error({GIFT_BINARY, "device-server", "--arch", "6-x-3"});
  EXPECT_TRUE(contains(e, "exited with status")) << e;
}

TEST(ExternalDevice, ServerThatRepliesGarbageIsAClearError) {
  std::string e = construct_error({"/bin/echo", "hello"});
  EXPECT_TRUE(contains(e, "not a gift protocol message")) << e;
  EXPECT_TRUE(contains(e, "'hell'")) << e;
  // Garbage from a server that stays alive: fails at once, and the server is killed.
  e = construct_error({"/bin/sh", "-c", "printf 'GARBAGE GARBAGE GARBAGE'; exec sleep 30"});
  EXPECT_TRUE(contains(e, "not a gift protocol message")) << e;
  e = construct_error({"/bin/sh", "-c", "printf 'XY'"});
  EXPECT_TRUE(contains(e, "found 'XY' (58 59) and the end of the stream")) << e;
  e = construct_error({"/bin/sh", "-c", "printf 'GI'"});
  EXPECT_TRUE(contains(e, "ended inside a message header (2 of 16 bytes)")) << e;
  // A server that echoes its input sends HELLO back.
  e = construct_error({"/bin/cat"});
  EXPECT_TRUE(contains(e, "replied HELLO to HELLO, expected INFO")) << e;
}

TEST(ExternalDevice, MalformedInfoIsAClearError) {
  const std::string oversized =
      "printf 'GIFT\\201\\000\\000\\000\\377\\377\\377\\377\\377\\377\\377\\377'; exec sleep 30";
  std::string e = construct_error({"/bin/sh", "-c", oversized});
  EXPECT_TRUE(contains(e, "above the 1 GiB limit")) << e;
  const auto info_of = [](const std::string& name, const std::string& json) {
    return std::vector<std::string>{
        "/bin/sh", "-c",
        "head -c 16 >/dev/null; cat '" + canned(name, {{MessageType::kInfo, text(json)}}) + "'"};
  };
  e = construct_error(info_of("badjson", "{\"protocol\": 1,"));
  EXPECT_TRUE(contains(e, "malformed INFO payload: invalid JSON")) << e;
  e = construct_error(info_of("v2", "{\"protocol\": 2}"));
  EXPECT_TRUE(contains(e, "speaks protocol 2")) << e;
  e = construct_error(info_of(
      "badarch",
      R"({"protocol":1,"name":"x","taps":true,"architecture":{"sizes":[6,3],"activations":["relu"],"w_max":1}})"));
  EXPECT_TRUE(contains(e, "last layer must be linear")) << e;
  // A truncated reply from a server that then exits.
  Bytes info = small_info();
  const std::string path = canned("truncated", {{MessageType::kInfo, info}});
  e = construct_error({"/bin/sh", "-c", "head -c 16 >/dev/null; head -c 40 '" + path + "'"});
  EXPECT_TRUE(contains(e, "ended inside the payload of INFO")) << e;
}

TEST(ExternalDevice, ServerThatDiesAfterTheHandshakeIsAClearError) {
  const std::string path = canned("dies", {{MessageType::kInfo, small_info()}});
  // Reads HELLO before answering (else the client may find the pipe closed before it sends).
  ExternalDevice dev({"/bin/sh", "-c", "head -c 16 >/dev/null; cat '" + path + "'"});
  EXPECT_EQ(dev.info().name, "fake");
  const std::string e = test::input_error_message([&] { dev.program(make_net(small_arch(), 1)); });
  EXPECT_TRUE(contains(e, "PROGRAM")) << e;
  EXPECT_TRUE(contains(e, "exited with status 0")) << e;
  const std::string later =
      test::input_error_message([&] { dev.forward(make_inputs(2, 6, 1), false); });
  EXPECT_TRUE(contains(later, "unusable after an earlier failure")) << later;
  EXPECT_EQ(dev.counters().programmings, 0u);
}

TEST(ExternalDevice, ReplyOfTheWrongShapeIsAClearError) {
  DeviceOutput wrong;
  wrong.out = Mat::Zero(2, 4);  // the chip has 3 outputs
  const std::string path =
      canned("shape", {{MessageType::kInfo, small_info()},
                       {MessageType::kOk, {}},
                       {MessageType::kOutput, protocol::encode_output(wrong)}});
  ExternalDevice dev({"/bin/sh", "-c", "cat '" + path + "'; exec sleep 30"});
  dev.program(make_net(small_arch(), 1));
  const std::string e =
      test::input_error_message([&] { dev.forward(make_inputs(2, 6, 1), false); });
  EXPECT_TRUE(contains(e, "final output is 2 x 4, expected 2 x 3")) << e;
  EXPECT_EQ(dev.counters().forwards, 0u);
}

// Options for a server that answers HELLO at once but is expected to miss a later deadline:
// a short reply timeout (so a test of a hang takes a fraction of a second) and a short wait
// for its exit; the handshake keeps a generous limit, so a busy machine cannot fail it.
ExternalDeviceOptions quick() {
  ExternalDeviceOptions o;
  o.handshake_timeout_s = 30;
  o.reply_timeout_s = 0.3;
  o.exit_timeout_s = 0.2;
  return o;
}

// A fake server: answers with `messages` and then the raw bytes `tail` (whatever it is sent),
// then stays alive without a word.
std::vector<std::string> then_silent(const std::string& name,
                                     const std::vector<std::pair<MessageType, Bytes>>& messages,
                                     const Bytes& tail = {}) {
  return {"/bin/sh", "-c", "cat '" + canned(name, messages, tail) + "'; exec sleep 30"};
}

TEST(ExternalDevice, EveryReplyHasADeadlineByDefault) {
  const ExternalDeviceOptions o;
  EXPECT_EQ(o.handshake_timeout_s, 30);
  EXPECT_EQ(o.reply_timeout_s, 120);
  EXPECT_EQ(o.exit_timeout_s, 2);
  for (double bad : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    ExternalDeviceOptions b;
    b.reply_timeout_s = bad;
    EXPECT_THROW(b.validate(), InputError) << bad;
  }
}

TEST(ExternalDevice, TimeoutsEndWaitsForASilentServer) {
  ExternalDeviceOptions o = quick();
  o.handshake_timeout_s = 0.3;
  std::string e = construct_error({"/bin/sh", "-c", "exec sleep 30"}, o);
  EXPECT_EQ(e, "device server '/bin/sh': no reply to HELLO within 0.3 s");
  // Silent after the handshake: it ignores BYE as well, and is killed after 0.2 s.
  ExternalDevice dev(then_silent("silent", {{MessageType::kInfo, small_info()}}), quick());
  e = test::input_error_message([&] { dev.program(make_net(small_arch(), 1)); });
  EXPECT_EQ(e, "device server '/bin/sh': no reply to PROGRAM within 0.3 s");
  e = test::input_error_message([&] { dev.forward(make_inputs(2, 6, 1), false); });
  EXPECT_TRUE(contains(e, "unusable after an earlier failure: no reply to PROGRAM")) << e;
}

TEST(ExternalDevice, HalfAHeaderOrAShortPayloadTimesOut) {
  // The deadline is for the whole reply, not for each read: a server that trickles part of
  // a message and stops fails as surely as a silent one.
  ExternalDevice half(
      then_silent("half_header", {{MessageType::kInfo, small_info()}, {MessageType::kOk, {}}},
                  text(std::string("GIFT\x82\0\0", 7))),
      quick());
  half.program(make_net(small_arch(), 1));
  std::string e = test::input_error_message([&] { half.forward(make_inputs(2, 6, 1), false); });
  EXPECT_EQ(e,
            "device server '/bin/sh': incomplete reply to FORWARD within 0.3 s (7 of 16 header "
            "bytes)");
  // A valid OUTPUT header for 2 x 3 outputs (36 bytes) followed by 10 bytes of it.
  Bytes tail = protocol::encode_header(MessageType::kOutput, 36);
  tail.resize(tail.size() + 10);
  ExternalDevice shortp(
      then_silent("short_payload", {{MessageType::kInfo, small_info()}, {MessageType::kOk, {}}},
                  tail),
      quick());
  shortp.program(make_net(small_arch(), 1));
  e = test::input_error_message([&] { shortp.forward(make_inputs(2, 6, 1), false); });
  EXPECT_EQ(e,
            "device server '/bin/sh': incomplete reply to FORWARD within 0.3 s (10 of 36 payload "
            "bytes of OUTPUT)");
  EXPECT_EQ(shortp.counters().forwards, 0u);
}

TEST(ExternalDevice, ServerThatStopsReadingTimesOutOnSend) {
  ExternalDevice dev(then_silent("not_reading", {{MessageType::kInfo, small_info()}}), quick());
  // 20,000 x 6 floats: more than a pipe holds, so the write itself must give up.
  const std::string e = test::input_error_message([&] { dev.forward(Mat::Zero(20000, 6), false); });
  EXPECT_TRUE(contains(e, "device server '/bin/sh': could not send FORWARD within 0.3 s (")) << e;
  EXPECT_TRUE(contains(e, "bytes written; the server does not read its input)")) << e;
}

TEST(ExternalDevice, ServerThatExitsMidPayloadIsAClearError) {
  // It reads each request whole (so every write of the client succeeds), then answers; its
  // OUTPUT stops after 14 of 36 payload bytes and it exits.
  const Network net = make_net(small_arch(), 1);
  const Mat x = make_inputs(2, 6, 1);
  DeviceOutput out;
  out.out = Mat::Zero(2, 3);
  const auto bytes = [](const Bytes& payload) {
    return std::to_string(protocol::kHeaderSize + payload.size());
  };
  const std::string info = canned("mid_payload_info", {{MessageType::kInfo, small_info()}});
  const std::string ok = canned("mid_payload_ok", {{MessageType::kOk, {}}});
  const std::string output =
      canned("mid_payload_output", {{MessageType::kOutput, protocol::encode_output(out)}});
  ExternalDevice dev({"/bin/sh", "-c",
                      "head -c 16 >/dev/null; cat '" + info + "'; head -c " +
                          bytes(protocol::encode_program(net.params())) + " >/dev/null; cat '" +
                          ok + "'; head -c " + bytes(protocol::encode_forward(x, false)) +
                          " >/dev/null; head -c 30 '" + output + "'; exit 5"});
  dev.program(net);
  const std::string e = test::input_error_message([&] { dev.forward(x, false); });
  EXPECT_EQ(e,
            "device server '/bin/sh': bad reply to FORWARD: the stream ended inside the payload "
            "of OUTPUT (14 of 36 bytes) (the server exited with status 5)");
}

TEST(ExternalDevice, OversizedRepliesAreRefusedFromTheirHeader) {
  // A reply longer than the request can need is refused before it is read (and before any
  // memory is set aside for it), with no wait for the deadline.
  ExternalDeviceOptions o = quick();
  o.reply_timeout_s = o.handshake_timeout_s = 30;
  std::string e = construct_error(
      then_silent("huge_info", {}, protocol::encode_header(MessageType::kInfo, 2 << 20)), o);
  EXPECT_EQ(e,
            "device server '/bin/sh': bad reply to HELLO: INFO announces 2097152 payload bytes, "
            "more than the 1048576 this reply may hold");
  ExternalDevice dev(
      then_silent("huge_output", {{MessageType::kInfo, small_info()}, {MessageType::kOk, {}}},
                  protocol::encode_header(MessageType::kOutput, 256 << 20)),
      o);
  dev.program(make_net(small_arch(), 1));
  e = test::input_error_message([&] { dev.forward(make_inputs(2, 6, 1), true); });
  EXPECT_EQ(e,
            "device server '/bin/sh': bad reply to FORWARD: OUTPUT announces 268435456 payload "
            "bytes, more than the 65536 this reply may hold");
}

TEST(ExternalDevice, NonFiniteOutputIsRefusedAndTheDeviceStaysUsable) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  DeviceOutput with_nan;
  with_nan.sums = {Mat::Zero(2, 5), Mat::Zero(2, 4), Mat::Zero(2, 3)};
  with_nan.sums[1](1, 2) = nan;
  with_nan.out = Mat::Zero(2, 3);
  DeviceOutput with_inf;
  with_inf.out = Mat::Zero(2, 3);
  with_inf.out(0, 1) = -inf;
  DeviceOutput good;
  good.out = Mat::Ones(2, 3);
  ExternalDevice dev(
      then_silent("non_finite", {{MessageType::kInfo, small_info()},
                                 {MessageType::kOk, {}},
                                 {MessageType::kOutput, protocol::encode_output(with_nan)},
                                 {MessageType::kOutput, protocol::encode_output(with_inf)},
                                 {MessageType::kOutput, protocol::encode_output(good)}}),
      quick());
  dev.program(make_net(small_arch(), 1));
  std::string e = test::input_error_message([&] { dev.forward(make_inputs(2, 6, 1), true); });
  EXPECT_EQ(e,
            "device server '/bin/sh': OUTPUT holds NaN in the detected sum of layer 1 (row 1, "
            "column 2); a device's outputs must be finite");
  e = test::input_error_message([&] { dev.forward(make_inputs(2, 6, 1), false); });
  EXPECT_EQ(e,
            "device server '/bin/sh': OUTPUT holds inf in the final output (row 0, column 1); a "
            "device's outputs must be finite");
  EXPECT_EQ(dev.counters().forwards, 0u);
  EXPECT_EQ(dev.forward(make_inputs(2, 6, 1), false).out, Mat::Ones(2, 3));
  EXPECT_EQ(dev.counters().forwards, 1u);
  EXPECT_EQ(dev.counters().passes, 2u);
}

TEST(ExternalDevice, DeeplyNestedInfoIsAShortError) {
  const std::string deep =
      "{\"protocol\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  const std::string e =
      construct_error({"/bin/sh", "-c",
                       "head -c 16 >/dev/null; cat '" +
                           canned("deep", {{MessageType::kInfo, text(deep)}}) + "'; exec sleep 30"},
                      quick());
  EXPECT_TRUE(contains(e,
                       "device server '/bin/sh': malformed INFO payload: invalid JSON: JSON "
                       "nested deeper than 64 levels"))
      << e;
  EXPECT_LT(e.size(), 200u);
}

TEST(ExternalDevice, ALongCommandIsCutInMessages) {
  const std::string e = construct_error({"/nonexistent/" + std::string(5000, 'x')});
  EXPECT_TRUE(contains(e, "cannot start device server '/nonexistent/xxx")) << e;
  EXPECT_LT(e.size(), 200u) << e;
}

TEST(ExternalDevice, ServerThatIgnoresByeIsKilled) {
  const std::string path = canned("ignores_bye", {{MessageType::kInfo, small_info()}});
  ExternalDeviceOptions o;
  o.exit_timeout_s = 0.2;
  // The server writes its pid (kept by exec) before the handshake, and ignores SIGTERM.
  const std::string pidfile = ::testing::TempDir() + "/gift_ext_ignores_bye.pid";
  pid_t pid = 0;
  {
    ExternalDevice dev(
        {"/bin/sh", "-c",
         "echo $$ > '" + pidfile + "'; cat '" + path + "'; trap '' TERM; exec sleep 30"},
        o);
    std::ifstream in(pidfile);
    in >> pid;
    ASSERT_GT(pid, 0) << "no pid in " << pidfile;
    ASSERT_EQ(kill(pid, 0), 0) << "the server is not running";
  }
  // The destructor killed it and reaped it: no such process, not even a zombie.
  errno = 0;
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
}

// Open descriptors of this process.
int open_fds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

TEST(ExternalDevice, EveryPathClosesItsDescriptorsAndReapsItsServer) {
  const int before = open_fds();
  construct_error({"/nonexistent/server"});
  construct_error({"/bin/sh", "-c", "exit 3"});
  construct_error({"/bin/echo", "garbage"});
  ExternalDeviceOptions o = quick();
  o.handshake_timeout_s = 0.3;
  construct_error({"/bin/sh", "-c", "exec sleep 30"}, o);
  construct_error(then_silent("leaks_header", {}, text("GIFT\x81")), o);
  {
    ExternalDevice dev(then_silent("leaks", {{MessageType::kInfo, small_info()}}), quick());
    test::input_error_message([&] { dev.program(make_net(small_arch(), 1)); });
  }
  {
    ExternalDevice dev(test::gift_server_argv(small_arch(), {}));
    dev.program(make_net(small_arch(), 1));
  }
  EXPECT_EQ(open_fds(), before);
  // No child is left, running or as a zombie.
  int status = 0;
  EXPECT_EQ(waitpid(-1, &status, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(ExternalDevice, TheServerInheritsNoOtherDescriptorOfGift) {
  // A descriptor gift opened without close-on-exec (a library's, say) is not the server's.
  const int fd = fcntl(STDERR_FILENO, F_DUPFD, 100);
  ASSERT_GE(fd, 100);
  const std::string info = canned("inherit", {{MessageType::kInfo, small_info()}});
  const std::string n = std::to_string(fd);
  EXPECT_NO_THROW(ExternalDevice(
      {"/bin/sh", "-c",
       "if [ -e /proc/self/fd/" + n + " ]; then exit 7; fi; cat '" + info + "'; exec sleep 30"},
      quick()));
  close(fd);
}

TEST(ExternalDevice, AStopSignalStopsTheServer) {
  // The server is registered with core/interrupt.h: the CLI's signal handler calls
  // cleanup_after_signal, which sends it SIGTERM.
  ExternalDevice dev(then_silent("signal", {{MessageType::kInfo, small_info()}}));
  cleanup_after_signal();
  const std::string e = test::input_error_message([&] { dev.program(make_net(small_arch(), 1)); });
  EXPECT_TRUE(contains(e, "was killed by signal 15")) << e;
}

TEST(ExternalDevice, ErrorRepliesKeepTheDeviceUsable) {
  SimulatedDeviceOptions so;
  ExternalDevice dev(test::gift_server_argv(small_arch(), so));
  const std::string e =
      test::input_error_message([&] { dev.forward(make_inputs(2, 6, 1), false); });
  EXPECT_EQ(e, "device server: device: forward before any weights were programmed");
  dev.program(make_net(small_arch(), 1));
  EXPECT_EQ(dev.forward(make_inputs(2, 6, 1), true).sums.size(), 3u);
}

TEST(ExternalDevice, ReferenceServerTakesTheArchitectureFromACheckpoint) {
  io::Checkpoint c;
  c.net = make_net(Architecture::from_string("6-5-3", Activation::kTanh, 0.75), 1);
  c.train.validate(c.net.arch());
  c.dataset = "mnist";
  const std::string path = ::testing::TempDir() + "/gift_ext_device.safetensors";
  io::save_checkpoint(path, c);
  ExternalDevice dev({GIFT_BINARY, "device-server", "--checkpoint", path, "--no-taps"});
  EXPECT_EQ(dev.info().arch.describe(), c.net.arch().describe());
  EXPECT_FALSE(dev.info().taps);
}

}  // namespace
}  // namespace gift

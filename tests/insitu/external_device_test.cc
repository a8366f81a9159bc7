// ExternalDevice against servers that misbehave: every failure is a one-line InputError
// naming the server, never a hang or a SIGPIPE; ERROR replies keep the device usable.
// (Its conformance as a Device is checked in device_test.cc.)
#include "gift/insitu/external_device.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "device_test_util.h"
#include "gift/core/error.h"
#include "gift/io/checkpoint.h"

namespace gift {
namespace {

using protocol::Bytes;
using protocol::MessageType;
using test::make_inputs;
using test::make_net;
using test::small_arch;

// Runs `f`, expects InputError, returns its message.
template <class F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError, nothing was thrown";
  return "";
}

std::string construct_error(std::vector<std::string> argv, ExternalDeviceOptions o = {}) {
  return input_error([&] { ExternalDevice d(std::move(argv), o); });
}

// A file holding `messages` (header + payload each), for a fake server to `cat`.
std::string canned(const std::string& name,
                   const std::vector<std::pair<MessageType, Bytes>>& messages) {
  const std::string path = ::testing::TempDir() + "/gift_ext_" + name + ".bin";
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  for (const auto& [type, payload] : messages) {
    const Bytes h = protocol::encode_header(type, payload.size());
    f.write(reinterpret_cast<const char*>(h.data()), static_cast<std::streamsize>(h.size()));
    f.write(reinterpret_cast<const char*>(payload.data()),
            static_cast<std::streamsize>(payload.size()));
  }
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
  const std::string e = input_error([&] { dev.program(make_net(small_arch(), 1)); });
  EXPECT_TRUE(contains(e, "PROGRAM")) << e;
  EXPECT_TRUE(contains(e, "exited with status 0")) << e;
  const std::string later = input_error([&] { dev.forward(make_inputs(2, 6, 1), false); });
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
  const std::string e = input_error([&] { dev.forward(make_inputs(2, 6, 1), false); });
  EXPECT_TRUE(contains(e, "final output is 2 x 4, expected 2 x 3")) << e;
  EXPECT_EQ(dev.counters().forwards, 0u);
}

TEST(ExternalDevice, TimeoutsEndWaitsForASilentServer) {
  ExternalDeviceOptions o;
  o.handshake_timeout_s = 0.2;
  const std::string e = construct_error({"/bin/sh", "-c", "exec sleep 30"}, o);
  EXPECT_TRUE(contains(e, "timed out after 200 ms")) << e;

  const std::string path = canned("silent", {{MessageType::kInfo, small_info()}});
  o.reply_timeout_s = 0.2;
  o.exit_timeout_s = 0.2;  // it ignores BYE as well: killed after 0.2 s
  ExternalDevice dev({"/bin/sh", "-c", "cat '" + path + "'; exec sleep 30"}, o);
  EXPECT_TRUE(contains(input_error([&] { dev.program(make_net(small_arch(), 1)); }), "timed out"));
}

TEST(ExternalDevice, ServerThatIgnoresByeIsKilled) {
  const std::string path = canned("ignores_bye", {{MessageType::kInfo, small_info()}});
  ExternalDeviceOptions o;
  o.exit_timeout_s = 0.2;
  { ExternalDevice dev({"/bin/sh", "-c", "cat '" + path + "'; trap '' TERM; exec sleep 30"}, o); }
  SUCCEED();  // the destructor returned: the server was killed and reaped
}

TEST(ExternalDevice, ErrorRepliesKeepTheDeviceUsable) {
  SimulatedDeviceOptions so;
  ExternalDevice dev(test::gift_server_argv(small_arch(), so));
  const std::string e = input_error([&] { dev.forward(make_inputs(2, 6, 1), false); });
  EXPECT_EQ(e, "device server: device: forward before any weights were programmed");
  dev.program(make_net(small_arch(), 1));
  EXPECT_EQ(dev.forward(make_inputs(2, 6, 1), true).sums.size(), 3u);
}

TEST(ExternalDevice, ReferenceServerTakesTheArchitectureFromACheckpoint) {
  Checkpoint c;
  c.net = make_net(Architecture::from_string("6-5-3", Activation::kTanh, 0.75), 1);
  c.train.validate(c.net.arch());
  c.dataset = "mnist";
  const std::string path = ::testing::TempDir() + "/gift_ext_device.safetensors";
  save_checkpoint(path, c);
  ExternalDevice dev({GIFT_BINARY, "device-server", "--checkpoint", path, "--no-taps"});
  EXPECT_EQ(dev.info().arch.describe(), c.net.arch().describe());
  EXPECT_FALSE(dev.info().taps);
}

}  // namespace
}  // namespace gift

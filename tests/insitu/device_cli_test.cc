// The device paths of the gift command line (apps/gift/device_flags.cc and the stop handlers
// of main.cc), run as a user would: the built binary on a tiny synthetic data set. A device
// server never outlives gift (SIGTERM, SIGKILL), --device-timeout ends a hang, and a device
// whose readings are NaN, inf or overflow gives one error line, never an estimate.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "../cli/cli_test_util.h"
#include "../test_util.h"
#include "device_test_util.h"
#include "gift/insitu/protocol.h"
#include "gift/io/checkpoint.h"

extern char** environ;

namespace gift {
namespace {

using protocol::Bytes;
using protocol::MessageType;
using test::read_text;
using test::TempDir;
using test_util::quote;
using Clock = std::chrono::steady_clock;

const Architecture& cli_arch() {
  static const Architecture a = Architecture::from_string("16-8-10", Activation::kRelu, 1.0);
  return a;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Whether process `pid` is gone: no such process, or a zombie nobody has reaped yet (in a
// container whose init does not reap, an orphan's zombie can linger; it runs no more).
bool gone(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return stat.empty() || (paren != std::string::npos && paren + 2 < stat.size() &&
                          (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X'));
}

bool wait_until(const std::function<bool()>& done, double seconds) {
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class DeviceCli : public ::testing::Test {
 protected:
  void SetUp() override {
    mkdir(tmp_.path("data").c_str(), 0755);
    test_util::write_synthetic_split(tmp_.path("data"), "train", 60, 1, 4);
    test_util::write_synthetic_split(tmp_.path("data"), "t10k", 1100, 2, 4);
    io::Checkpoint c;
    c.net = test::make_net(cli_arch(), 1);
    c.train.validate(c.net.arch());
    c.dataset = "mnist";
    io::save_checkpoint(tmp_.path("model.safetensors"), c);
  }

  // The arguments of a small calibration on the synthetic data.
  std::vector<std::string> calibrate_args() const {
    std::vector<std::string> args = {"calibrate", "--threads",       "1", "--calib-inputs",
                                     "4",         "--calib-repeats", "3", "--calib-bootstrap",
                                     "10"};
    args.insert(args.end(), {"--checkpoint", tmp_.path("model.safetensors")});
    args.insert(args.end(), {"--data-dir", tmp_.path("data")});
    args.insert(args.end(), {"--json", tmp_.path("cal.json")});
    return args;
  }

  // An executable script `name` in the temporary directory.
  std::string script(const std::string& name, const std::string& body) const {
    const std::string path = tmp_.path(name);
    std::ofstream(path) << "#!/bin/sh\n" << body;
    chmod(path.c_str(), 0755);
    return path;
  }

  // A file holding `messages` (header + payload each).
  std::string canned(const std::string& name,
                     const std::vector<std::pair<MessageType, Bytes>>& messages) const {
    const std::string path = tmp_.path(name);
    std::ofstream f(path, std::ios::binary);
    for (const auto& [type, payload] : messages) {
      const Bytes h = protocol::encode_header(type, payload.size());
      f.write(reinterpret_cast<const char*>(h.data()), static_cast<std::streamsize>(h.size()));
      f.write(reinterpret_cast<const char*>(payload.data()),
              static_cast<std::streamsize>(payload.size()));
    }
    return path;
  }

  Bytes info() const {
    DeviceInfo i;
    i.arch = cli_arch();
    i.name = "fake";
    return protocol::encode_info(i);
  }

  // Starts gift with `args`, stdout and stderr to files; returns its pid.
  pid_t start(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {GIFT_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> p;
    for (std::string& a : argv) p.push_back(a.data());
    p.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, tmp_.path("stdout").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, tmp_.path("stderr").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, p.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0);
    return pid;
  }

  // Runs gift with `args` to the end; returns the raw wait status.
  int run(const std::vector<std::string>& args) const {
    const pid_t pid = start(args);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  }

  std::string err() const { return read_text(tmp_.path("stderr")); }
  std::string out() const { return read_text(tmp_.path("stdout")); }

  // One line on stderr, "gift: error: ...", holding `part`; nothing written to --json.
  void expect_one_error_line(int status, int code, const std::string& part) const {
    const std::string e = err();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == code) << status << " " << e;
    EXPECT_EQ(e.rfind("gift: error: ", 0), 0u) << e;
    EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1) << e;
    EXPECT_TRUE(contains(e, part)) << e;
    EXPECT_FALSE(contains(out(), "noiseless")) << out();
    EXPECT_FALSE(std::ifstream(tmp_.path("cal.json")).good()) << "an estimate was written";
  }

  TempDir tmp_;
};

// gift is stopped (SIGTERM, then SIGKILL) while its server runs: during the handshake, and
// after it (gift waiting for PROGRAM's reply). The server records its pid, then sleeps.
TEST_F(DeviceCli, TheServerDoesNotOutliveGift) {
  const std::string pidfile = tmp_.path("server.pid");
  const std::string info_file = canned("info.bin", {{MessageType::kInfo, info()}});
  const std::string servers[] = {
      script("mute.sh", "echo $$ > " + quote(pidfile) + ".tmp; mv " + quote(pidfile) + ".tmp " +
                            quote(pidfile) + "\nexec sleep 60\n"),
      script("stalls.sh", "head -c 16 >/dev/null; cat " + quote(info_file) + "; echo $$ > " +
                              quote(pidfile) + ".tmp; mv " + quote(pidfile) + ".tmp " +
                              quote(pidfile) + "\nexec sleep 60\n")};
  for (const std::string& server : servers) {
    for (int sig : {SIGTERM, SIGKILL}) {
      SCOPED_TRACE(server + " " + strsignal(sig));
      unlink(pidfile.c_str());
      std::vector<std::string> args = calibrate_args();
      args.insert(args.end(), {"--device-command", server});
      const pid_t gift = start(args);
      ASSERT_TRUE(wait_until([&] { return std::ifstream(pidfile).good(); }, 30))
          << "the server never started: " << err();
      const pid_t server_pid = std::stoi(read_text(pidfile));
      ASSERT_GT(server_pid, 1);
      // Once the server has answered, give gift the moment it needs to send PROGRAM.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      ASSERT_EQ(kill(gift, sig), 0);
      int status = 0;
      while (waitpid(gift, &status, 0) < 0 && errno == EINTR) {
      }
      if (sig == SIGTERM) {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 143) << status << " " << err();
        EXPECT_TRUE(contains(err(), "gift: stopped by SIGTERM")) << err();
      } else {
        EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
      }
      EXPECT_TRUE(wait_until([&] { return gone(server_pid); }, 10))
          << "server " << server_pid << " outlived gift";
      if (!gone(server_pid)) kill(server_pid, SIGKILL);
    }
  }
}

// `bytes` as a printf(1) format of octal escapes.
std::string printf_format(const Bytes& bytes) {
  std::string f;
  for (uint8_t b : bytes) {
    f += '\\';
    for (int shift : {6, 3, 0}) f += static_cast<char>('0' + ((b >> shift) & 7));
  }
  return f;
}

TEST_F(DeviceCli, DeviceTimeoutEndsAHang) {
  // The server answers HELLO with the shell's own printf (no process to start, so it is in
  // time even on a busy machine), then never answers again.
  const Bytes payload = info();
  Bytes hello = protocol::encode_header(MessageType::kInfo, payload.size());
  hello.insert(hello.end(), payload.begin(), payload.end());
  const std::string silent =
      script("silent.sh", "printf '" + printf_format(hello) + "'\nexec sleep 60\n");
  std::vector<std::string> args = calibrate_args();
  args.insert(args.end(), {"--device-command", silent, "--device-timeout", "0.5"});
  expect_one_error_line(run(args), 1,
                        "device server '" + silent + "': no reply to PROGRAM within 0.5 s");
  // The first reply is bounded by the same option.
  const std::string mute = script("mute.sh", "exec sleep 60\n");
  args = calibrate_args();
  args.insert(args.end(), {"--device-command", mute, "--device-timeout", "0.5"});
  expect_one_error_line(run(args), 1,
                        "device server '" + mute + "': no reply to HELLO within 0.5 s");
}

// --calib-sites: the fit finds a listed site (shot on a shot-noise chip, with an interval) and
// an unknown or repeated name is one error line naming the option; --device-noise-preset
// builds the chip's noise from a named mix.
TEST_F(DeviceCli, CalibSitesChoosesTheFittedSitesAndPresetsBuildTheChip) {
  std::vector<std::string> args = calibrate_args();
  for (size_t i = 0; i + 1 < args.size(); ++i) {  // enough inputs and repeats to find it
    if (args[i] == "--calib-inputs") args[i + 1] = "40";
    if (args[i] == "--calib-repeats") args[i + 1] = "16";
  }
  args.insert(args.end(), {"--calib-sites", "sum_add,shot", "--device-noise-shot", "0.3"});
  ASSERT_EQ(run(args), 0) << err();
  const nlohmann::json j = nlohmann::json::parse(read_text(tmp_.path("cal.json")));
  const nlohmann::json& shot = j.at("estimate").at("shot");
  ASSERT_EQ(shot.size(), 2u) << j.dump();
  EXPECT_GT(shot[0].get<double>(), 0.1) << j.dump();  // found on layer 0 (true 0.3)
  EXPECT_EQ(j.at("estimate").at("sum_mult")[0].get<double>(), 0.0) << j.dump();  // not listed
  std::remove(tmp_.path("cal.json").c_str());  // the error runs below must write none
  for (const std::string bad : {"sum_add,bogus", "shot,shot"}) {
    args = calibrate_args();
    args.insert(args.end(), {"--calib-sites", bad});
    expect_one_error_line(run(args), 1, "--calib-sites");
  }
  args = calibrate_args();
  args.insert(args.end(), {"--device-noise-preset", "soa"});
  ASSERT_EQ(run(args), 0) << err();
  std::remove(tmp_.path("cal.json").c_str());
  args = calibrate_args();
  args.insert(args.end(), {"--device-noise-preset", "mzi"});
  expect_one_error_line(run(args), 1, "unknown noise preset 'mzi': expected soa");
}

TEST_F(DeviceCli, AnExternalDeviceIsDescribedAsOneNotAsASimulatedChip) {
  // The server is gift's own simulated chip behind the protocol; gift still cannot know its
  // noise, and says what it drives: the command, and what the server says it is.
  const std::string server = std::string(GIFT_BINARY) + " device-server --checkpoint " +
                             tmp_.path("model.safetensors") + " --noise-sum-add 0.5";
  std::vector<std::string> args = calibrate_args();
  args.insert(args.end(), {"--device-command", server});
  ASSERT_EQ(run(args), 0) << err();
  EXPECT_TRUE(contains(out(), "on the external device '" + server + "'")) << out();
  EXPECT_FALSE(contains(out(), "a simulated device")) << out();
  args = calibrate_args();
  args.insert(args.end(), {"--device-noise-sum-add", "0.5"});
  ASSERT_EQ(run(args), 0) << err();
  EXPECT_TRUE(contains(out(), "on a simulated device with true noise")) << out();
}

TEST_F(DeviceCli, DeviceTimeoutIsValidated) {
  for (const std::string bad : {"-1", "nan", "inf", "-inf", "1e999", "ten", ""}) {
    SCOPED_TRACE(bad);
    std::vector<std::string> args = calibrate_args();
    args.insert(args.end(), {"--device-command", "/bin/true", "--device-timeout", bad});
    expect_one_error_line(run(args), 2, "--device-timeout");
    EXPECT_TRUE(contains(err(), "expected a number of seconds >= 0 (0 = no limit)")) << err();
  }
  std::vector<std::string> args = calibrate_args();
  args.insert(args.end(), {"--device-timeout", "5"});
  expect_one_error_line(run(args), 1,
                        "--device-timeout applies to an external device (--device-command)");
}

// NaN or inf from the device, or a simulated noise that overflows: one error line, exit 1,
// no estimate printed and no JSON written.
TEST_F(DeviceCli, NonFiniteReadingsGiveAnErrorNotAnEstimate) {
  std::vector<std::string> args = calibrate_args();
  args.insert(args.end(), {"--device-noise-sum-add", "1e300"});
  expect_one_error_line(run(args), 1, "the simulated noise overflowed float32");

  // An external server answering calibration's first FORWARD (its repeats are interleaved:
  // each call sends the 4 inputs once, with taps) with a NaN in the first layer's sums.
  DeviceOutput o;
  o.sums = {Mat::Zero(4, 8), Mat::Zero(4, 10)};
  o.sums[0](1, 3) = std::numeric_limits<float>::quiet_NaN();
  o.out = Mat::Zero(4, 10);
  const std::string replies = canned("nan.bin", {{MessageType::kInfo, info()},
                                                 {MessageType::kOk, {}},
                                                 {MessageType::kOutput, protocol::encode_output(o)},
                                                 {MessageType::kOk, {}}});
  // (The last OK answers BYE; the server then leaves when its input ends.)
  const std::string server = script("nan.sh", "cat " + quote(replies) + "\nexec cat >/dev/null\n");
  args = calibrate_args();
  args.insert(args.end(), {"--device-command", server});
  expect_one_error_line(run(args), 1,
                        "device server '" + server +
                            "': OUTPUT holds NaN in the detected sum of layer 0 (row 1, column 3)");
}

}  // namespace
}  // namespace gift

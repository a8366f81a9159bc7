#include "gift/insitu/external_device.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

#include "gift/core/error.h"
#include "gift/core/interrupt.h"
#include "gift/core/process.h"

namespace gift {

using protocol::Bytes;
using protocol::Message;
using protocol::MessageType;
using Clock = std::chrono::steady_clock;

namespace {

// Replies other than the expected one (ERROR, or a wrong type to report) may hold this much.
constexpr uint64_t kOtherReplyBytes = 64 << 10;

// Seconds to poll milliseconds; 0 (no limit) becomes -1.
int to_ms(double seconds) {
  if (seconds <= 0) return -1;
  return static_cast<int>(std::min(std::ceil(seconds * 1000), 2147483647.0));
}

// "120 s", "0.3 s".
std::string seconds_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", seconds);
  return buf;
}

// `text` cut to about 100 characters, for quoting in a message.
std::string cut(const std::string& text) {
  return text.size() <= 100 ? text : text.substr(0, 100) + "...";
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

void ExternalDeviceOptions::validate() const {
  const std::pair<const char*, double> all[] = {{"handshake_timeout_s", handshake_timeout_s},
                                                {"reply_timeout_s", reply_timeout_s},
                                                {"exit_timeout_s", exit_timeout_s}};
  for (const auto& [name, value] : all) {
    if (!std::isfinite(value) || value < 0) {
      std::ostringstream os;
      os << "external device: " << name << " must be finite and >= 0, found " << value;
      throw InputError(os.str());
    }
  }
}

ExternalDevice::ExternalDevice(std::vector<std::string> argv, ExternalDeviceOptions options)
    : argv_(std::move(argv)), opts_(options) {
  opts_.validate();
  if (argv_.empty() || argv_[0].empty()) {
    throw InputError("external device: the server command is empty");
  }
  // Named by its program and, for an interpreter ("python3 chip.py") or a subcommand ("gift
  // device-server"), its first argument when that is not an option.
  std::string who = argv_[0];
  if (argv_.size() > 1 && !argv_[1].empty() && argv_[1][0] != '-') who += " " + argv_[1];
  label_ = "device server '" + cut(who) + "'";

  start();
  try {
    const Message m = call(MessageType::kHello, {}, MessageType::kInfo, protocol::kMaxInfoBytes,
                           opts_.handshake_timeout_s);
    try {
      info_ = protocol::decode_info(m.payload);
    } catch (const InputError& e) {
      fail(e.what());
    }
  } catch (...) {
    shut_down();
    throw;
  }
}

ExternalDevice::~ExternalDevice() { shut_down(); }

void ExternalDevice::start() {
  // The child reads requests from its stdin and writes replies to its stdout; its stderr stays
  // ours. It never outlives gift (stop_with_parent).
  SpawnOptions o;
  o.pipe_stdin = true;
  o.stop_with_parent = true;
  const ChildProcess child = spawn(argv_, o, label_);
  pid_ = child.pid;
  child_slot_ = child.interrupt_slot;
  to_server_ = child.to_child;
  from_server_ = child.from_child;
  for (int fd : {to_server_, from_server_}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void ExternalDevice::program(const Network& net) {
  if (net.arch() != info_.arch) {
    throw InputError("device: cannot program " + net.arch().describe() + " onto a device of " +
                     info_.arch.describe());
  }
  if (!net.all_finite()) throw InputError("device: refusing to program weights holding NaN or inf");
  const Message m = call(MessageType::kProgram, protocol::encode_program(net.params()),
                         MessageType::kOk, 0, opts_.reply_timeout_s);
  try {
    protocol::decode_empty(m.payload, m.type);
  } catch (const InputError& e) {
    fail(e.what());
  }
  ++counters_.programmings;
}

DeviceOutput ExternalDevice::forward(const Mat& x, bool taps) {
  if (!x.allFinite()) throw InputError("device: refusing to run inputs holding NaN or inf");
  const Architecture& a = info_.arch;
  // The exact size of a valid reply: M, then each matrix's shape and floats.
  const uint64_t B = static_cast<uint64_t>(x.rows());
  uint64_t reply_bytes = 4 + 8 + 4 * B * static_cast<uint64_t>(a.outputs());
  if (taps) {
    for (size_t l = 0; l < a.num_layers(); ++l) {
      reply_bytes += 8 + 4 * B * static_cast<uint64_t>(a.sizes[l + 1]);
    }
  }
  const Message m = call(MessageType::kForward, protocol::encode_forward(x, taps),
                         MessageType::kOutput, reply_bytes, opts_.reply_timeout_s);
  DeviceOutput out;
  try {
    out = protocol::decode_output(m.payload);
  } catch (const InputError& e) {
    fail(e.what());
  }
  const size_t want = taps ? a.num_layers() : 0;
  if (out.sums.size() != want) {
    fail("OUTPUT holds " + std::to_string(out.sums.size() + 1) + " matrices, a forward " +
         (taps ? "with" : "without") + " taps needs " + std::to_string(want + 1));
  }
  auto check = [&](const Mat& mat, int cols, const std::string& what) {
    if (mat.rows() != x.rows() || mat.cols() != cols) {
      fail("OUTPUT " + what + " is " + std::to_string(mat.rows()) + " x " +
           std::to_string(mat.cols()) + ", expected " + std::to_string(x.rows()) + " x " +
           std::to_string(cols));
    }
  };
  for (size_t l = 0; l < out.sums.size(); ++l) {
    check(out.sums[l], a.sizes[l + 1], "sum of layer " + std::to_string(l));
  }
  check(out.out, a.outputs(), "final output");
  // A detector reads a finite number; NaN or inf would poison every estimate made from it.
  // The stream is intact, so the device stays usable (like an ERROR reply).
  auto finite = [&](const Mat& mat, const std::string& what) {
    if (mat.allFinite()) return;
    for (Eigen::Index r = 0; r < mat.rows(); ++r) {
      for (Eigen::Index c = 0; c < mat.cols(); ++c) {
        const float v = mat(r, c);
        if (std::isfinite(v)) continue;
        throw InputError(label_ + ": OUTPUT holds " + (std::isnan(v) ? "NaN" : "inf") + " in " +
                         what + " (row " + std::to_string(r) + ", column " + std::to_string(c) +
                         "); a device's outputs must be finite");
      }
    }
  };
  for (size_t l = 0; l < out.sums.size(); ++l) {
    finite(out.sums[l], "the detected sum of layer " + std::to_string(l));
  }
  finite(out.out, "the final output");
  ++counters_.forwards;
  counters_.passes += static_cast<uint64_t>(x.rows());
  return out;
}

Message ExternalDevice::call(MessageType type, const Bytes& payload, MessageType expected,
                             uint64_t reply_bytes, double timeout_s) {
  if (broken_) throw InputError(label_ + ": unusable after an earlier failure: " + broken_reason_);
  const std::string name = protocol::to_string(type);
  const uint64_t max_payload = std::max(reply_bytes, kOtherReplyBytes);
  // One deadline for the exchange: the request written and the whole reply read.
  const int ms = to_ms(timeout_s);
  const Clock::time_point start = Clock::now();
  const auto left_ms = [&] {
    if (ms < 0) return -1;
    const auto spent =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    return static_cast<int>(std::max<long long>(0, ms - spent));
  };
  Message reply;
  bool got = false;
  std::string send_error;
  try {
    protocol::write_message(to_server_, type, payload, ms);
  } catch (const protocol::TimeoutError& e) {
    send_error = "could not send " + name + " within " + seconds_text(timeout_s) + " (" +
                 e.progress + "; the server does not read its input)";
  } catch (const InputError& e) {
    send_error = "cannot send " + name + ": " + e.what();
  }
  if (!send_error.empty()) {
    // What the server wrote before it stopped reading (an ERROR saying why, or garbage)
    // explains more than the failed write.
    try {
      got = protocol::read_message(from_server_, reply, 200, max_payload);
    } catch (const protocol::TimeoutError&) {
      fail(send_error);
    } catch (const InputError& e) {
      fail("bad reply to " + name + ": " + e.what());  // garbage says what the server is
    }
    if (!got || reply.type != MessageType::kError) fail(send_error);
    broken_ = true;
    broken_reason_ = "it stopped reading requests";
    throw InputError("device server: " + protocol::decode_error(reply.payload));
  }
  try {
    got = protocol::read_message(from_server_, reply, left_ms(), max_payload);
  } catch (const protocol::TimeoutError& e) {
    if (e.bytes_done == 0) fail("no reply to " + name + " within " + seconds_text(timeout_s));
    fail("incomplete reply to " + name + " within " + seconds_text(timeout_s) + " (" + e.progress +
         ")");
  } catch (const InputError& e) {
    fail("bad reply to " + name + ": " + e.what());
  }
  if (!got) fail("closed its output instead of replying to " + name);
  if (reply.type == MessageType::kError) {
    throw InputError("device server: " + protocol::decode_error(reply.payload));
  }
  if (reply.type != expected) {
    fail("replied " + protocol::to_string(reply.type) + " to " + name + ", expected " +
         protocol::to_string(expected));
  }
  return reply;
}

void ExternalDevice::fail(const std::string& what) {
  broken_ = true;
  const std::string status = wait_for_exit(0.2);  // a dying server is gone by then
  broken_reason_ = what + (status.empty() ? "" : " (the server " + status + ")");
  throw InputError(label_ + ": " + broken_reason_);
}

std::string ExternalDevice::try_reap() {
  if (pid_ <= 0) return "";
  // Look without reaping first: the pid stays ours (a zombie) until it is unregistered, so a
  // signal handler can never send SIGTERM to a recycled pid.
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  int r;
  while ((r = waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT)) < 0 &&
         errno == EINTR) {
  }
  if (r == 0 && info.si_pid == 0) return "";  // still running
  unregister_child(child_slot_);
  child_slot_ = -1;
  if (r < 0) {
    pid_ = -1;  // not our child any more (reaped elsewhere)
    return "ended";
  }
  const int status = wait_status(pid_);
  pid_ = -1;
  return describe_exit(status);
}

std::string ExternalDevice::wait_for_exit(double seconds) {
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  while (pid_ > 0) {
    const std::string how = try_reap();
    if (!how.empty()) return how;
    if (Clock::now() >= until) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return "";
}

void ExternalDevice::kill_and_reap() noexcept {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  unregister_child(child_slot_);  // the pid stays ours (a zombie) until wait_status below
  child_slot_ = -1;
  wait_status(pid_);
  pid_ = -1;
}

void ExternalDevice::shut_down() noexcept {
  if (!broken_ && pid_ > 0 && opts_.exit_timeout_s > 0) {
    try {
      const int ms = to_ms(opts_.exit_timeout_s);
      protocol::write_message(to_server_, MessageType::kBye, {}, ms);
      Message reply;
      protocol::read_message(from_server_, reply, ms, kOtherReplyBytes);
    } catch (const std::exception&) {
      // The server is killed below if it does not exit.
    }
  }
  close_fd(to_server_);  // the server sees the end of its input
  close_fd(from_server_);
  try {
    if (pid_ > 0 && (broken_ || wait_for_exit(opts_.exit_timeout_s).empty())) kill_and_reap();
  } catch (const std::exception&) {
    kill_and_reap();
  }
}

}  // namespace gift

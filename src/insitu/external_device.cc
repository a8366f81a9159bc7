#include "gift/insitu/external_device.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <sstream>
#include <thread>

#include "gift/core/error.h"

extern char** environ;

namespace gift {

using protocol::Bytes;
using protocol::Message;
using protocol::MessageType;

namespace {

bool same_arch(const Architecture& a, const Architecture& b) {
  return a.sizes == b.sizes && a.activations == b.activations && a.w_max == b.w_max;
}

// Seconds to poll milliseconds; 0 (no limit) becomes -1.
int to_ms(double seconds) {
  if (seconds <= 0) return -1;
  return static_cast<int>(std::min(std::ceil(seconds * 1000), 2147483647.0));
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "ended";
}

// Moves `fd` to a descriptor >= 3 (close-on-exec), so that dup2 onto 0 or 1 in the child
// always changes it; returns the new descriptor.
int above_stdio(int fd) {
  if (fd > 2) return fd;
  const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const int saved = errno;
  close(fd);
  if (moved < 0) throw InputError(std::string("external device: fcntl: ") + std::strerror(saved));
  return moved;
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
  label_ = "device server '" + argv_[0] + "'";

  // Pipes: the child reads requests from `req` and writes replies to `rep`. Close-on-exec,
  // so no other child ever holds an end (which would hide the end of the stream).
  int req[2], rep[2];
  if (pipe2(req, O_CLOEXEC) != 0) {
    throw InputError("external device: pipe: " + std::string(std::strerror(errno)));
  }
  if (pipe2(rep, O_CLOEXEC) != 0) {
    const int saved = errno;
    close(req[0]);
    close(req[1]);
    throw InputError("external device: pipe: " + std::string(std::strerror(saved)));
  }
  try {
    for (int* fd : {&req[0], &req[1], &rep[0], &rep[1]}) *fd = above_stdio(*fd);
  } catch (...) {
    for (int fd : {req[0], req[1], rep[0], rep[1]}) close(fd);
    throw;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, req[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, rep[1], STDOUT_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, pipe_only;
  sigemptyset(&none);
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);          // the server starts with no signal blocked
  posix_spawnattr_setsigdefault(&attr, &pipe_only);  // and SIGPIPE at its default
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (std::string& a : argv_) args.push_back(a.data());
  args.push_back(nullptr);
  const int rc = posix_spawnp(&pid_, argv_[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(req[0]);
  close(rep[1]);
  if (rc != 0) {
    pid_ = -1;
    close(req[1]);
    close(rep[0]);
    throw InputError("cannot start " + label_ + ": " + std::strerror(rc));
  }
  to_server_ = req[1];
  from_server_ = rep[0];
  for (int fd : {to_server_, from_server_}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  try {
    const Message m = call(MessageType::kHello, {}, MessageType::kInfo, opts_.handshake_timeout_s);
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

void ExternalDevice::program(const Network& net) {
  if (!same_arch(net.arch(), info_.arch)) {
    throw InputError("device: cannot program " + net.arch().describe() + " onto a device of " +
                     info_.arch.describe());
  }
  if (!net.all_finite()) throw InputError("device: refusing to program weights holding NaN or inf");
  const Message m = call(MessageType::kProgram, protocol::encode_program(net.params()),
                         MessageType::kOk, opts_.reply_timeout_s);
  try {
    protocol::decode_empty(m.payload, m.type);
  } catch (const InputError& e) {
    fail(e.what());
  }
  ++counters_.programmings;
}

DeviceOutput ExternalDevice::forward(const Mat& x, bool taps) {
  const Message m = call(MessageType::kForward, protocol::encode_forward(x, taps),
                         MessageType::kOutput, opts_.reply_timeout_s);
  DeviceOutput out;
  try {
    out = protocol::decode_output(m.payload);
  } catch (const InputError& e) {
    fail(e.what());
  }
  const Architecture& a = info_.arch;
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
  ++counters_.forwards;
  counters_.passes += static_cast<uint64_t>(x.rows());
  return out;
}

Message ExternalDevice::call(MessageType type, const Bytes& payload, MessageType expected,
                             double timeout_s) {
  if (broken_) throw InputError(label_ + ": unusable after an earlier failure: " + broken_reason_);
  const int ms = to_ms(timeout_s);
  const std::string name = protocol::to_string(type);
  Message reply;
  bool got = false;
  std::string send_error;
  try {
    protocol::write_message(to_server_, type, payload, ms);
  } catch (const InputError& e) {
    send_error = e.what();
  }
  // Even when the request could not be sent, what the server wrote before it stopped
  // reading (an ERROR saying why, or garbage) explains more than the failed write.
  try {
    got = protocol::read_message(from_server_, reply, send_error.empty() ? ms : 200);
  } catch (const InputError& e) {
    fail("bad reply to " + name + ": " + e.what());
  }
  if (!send_error.empty()) {
    if (!got || reply.type != MessageType::kError) fail("cannot send " + name + ": " + send_error);
    broken_ = true;
    broken_reason_ = "it stopped reading requests";
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

std::string ExternalDevice::wait_for_exit(double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (pid_ > 0) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return describe_status(status);
    }
    if (r < 0 && errno != EINTR) {
      pid_ = -1;  // not our child any more (reaped elsewhere)
      return "ended";
    }
    if (r == 0 && std::chrono::steady_clock::now() >= until) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return "";
}

void ExternalDevice::shut_down() noexcept {
  if (!broken_ && pid_ > 0 && opts_.exit_timeout_s > 0) {
    try {
      const int ms = to_ms(opts_.exit_timeout_s);
      protocol::write_message(to_server_, MessageType::kBye, {}, ms);
      Message reply;
      protocol::read_message(from_server_, reply, ms);
    } catch (const std::exception&) {
      // The server is killed below if it does not exit.
    }
  }
  close_fd(to_server_);  // the server sees the end of its input
  close_fd(from_server_);
  try {
    if (pid_ > 0 && (broken_ || wait_for_exit(opts_.exit_timeout_s).empty())) {
      kill(pid_, SIGKILL);
      int status = 0;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
  } catch (const std::exception&) {
    // Nothing more can be done from a destructor.
  }
}

}  // namespace gift

#include "gift/insitu/external_device.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

#include "gift/core/error.h"
#include "gift/core/interrupt.h"

extern char** environ;

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

bool executable_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// The file execvp would run for `name`: `name` itself if it holds a '/', else the first
// executable regular file of that name in PATH (default "/bin:/usr/bin"). "" and *error =
// ENOENT or EACCES when there is none.
std::string find_program(const std::string& name, int* error) {
  if (name.find('/') != std::string::npos) return name;
  const char* env = std::getenv("PATH");
  const std::string dirs = env && *env ? env : "/bin:/usr/bin";
  *error = ENOENT;
  size_t begin = 0;
  for (;;) {
    const size_t end = std::min(dirs.find(':', begin), dirs.size());
    const std::string dir = dirs.substr(begin, end - begin);
    const std::string candidate = dir.empty() ? name : dir + "/" + name;
    if (executable_file(candidate)) return candidate;
    if (access(candidate.c_str(), F_OK) == 0) *error = EACCES;
    if (end == dirs.size()) return "";
    begin = end + 1;
  }
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
  label_ = "device server '" + cut(argv_[0]) + "'";

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
  // Resolved here, before fork: the child may only make async-signal-safe calls.
  int find_error = 0;
  const std::string path = find_program(argv_[0], &find_error);
  if (path.empty()) throw InputError("cannot start " + label_ + ": " + std::strerror(find_error));
  std::vector<char*> args, sh_args;
  for (std::string& a : argv_) args.push_back(a.data());
  args.push_back(nullptr);
  std::string sh = "/bin/sh", script = path;  // for a script without "#!", as execvp does
  sh_args = {sh.data(), script.data()};
  sh_args.insert(sh_args.end(), args.begin() + 1, args.end());

  // Pipes: the child reads requests from `req` and writes replies to `rep`; `err` carries
  // the errno of a failed exec. Close-on-exec, so no other child ever holds an end (which
  // would hide the end of the stream).
  int fds[6] = {-1, -1, -1, -1, -1, -1};
  const auto close_all = [&] {
    for (int& fd : fds) close_fd(fd);
  };
  try {
    for (int i = 0; i < 6; i += 2) {
      if (pipe2(fds + i, O_CLOEXEC) != 0) {
        throw InputError("external device: pipe: " + std::string(std::strerror(errno)));
      }
      for (int k = i; k < i + 2; ++k) {
        const int fd = fds[k];
        fds[k] = -1;  // above_stdio closes it, also when it throws
        fds[k] = above_stdio(fd);
      }
    }
  } catch (...) {
    close_all();
    throw;
  }
  int &req_r = fds[0], &req_w = fds[1], &rep_r = fds[2], &rep_w = fds[3], &err_r = fds[4],
      &err_w = fds[5];

  // All signals stay blocked across fork, so that neither process runs a handler in between
  // (in the child, gift's handlers would stop gift's other children).
  const pid_t parent = getpid();
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = fork();
  if (pid == 0) {
    // The child: async-signal-safe calls only, up to exec.
    for (int sig = 1; sig < NSIG; ++sig) {
      struct sigaction sa;
      if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, nullptr, &sa) != 0) continue;
      if (sa.sa_handler != SIG_DFL &&
          (sa.sa_handler != SIG_IGN || sig == SIGPIPE || sig == SIGTERM)) {
        sa.sa_handler = SIG_DFL;  // handlers are gift's; SIGPIPE and SIGTERM at their default
        sa.sa_flags = 0;
        sigaction(sig, &sa, nullptr);
      }
    }
    // Stop when gift does, however it ends; if gift is already gone, stop now.
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(127);
    if (dup2(req_r, STDIN_FILENO) < 0 || dup2(rep_w, STDOUT_FILENO) < 0) {
      const int e = errno;
      (void)!write(err_w, &e, sizeof e);
      _exit(127);
    }
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);  // nothing else of gift's leaks into the server
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(path.c_str(), args.data(), environ);
    if (errno == ENOEXEC) execve(sh.c_str(), sh_args.data(), environ);
    const int e = errno;
    (void)!write(err_w, &e, sizeof e);
    _exit(127);
  }
  const int fork_errno = errno;
  if (pid > 0) {
    pid_ = pid;
    child_slot_ = register_child(pid);  // before any signal can be handled
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close_fd(req_r);
  close_fd(rep_w);
  close_fd(err_w);
  if (pid < 0) {
    close_all();
    throw InputError("cannot start " + label_ + ": fork: " + std::strerror(fork_errno));
  }
  // The error pipe closes on a successful exec, or carries the errno of a failed one.
  int exec_errno = 0;
  size_t got = 0;
  while (got < sizeof exec_errno) {
    const ssize_t r =
        read(err_r, reinterpret_cast<char*>(&exec_errno) + got, sizeof exec_errno - got);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r == 0 || errno != EINTR) {
      break;
    }
  }
  close_fd(err_r);
  if (got == sizeof exec_errno) {
    close_all();
    kill_and_reap();
    throw InputError("cannot start " + label_ + ": " + std::strerror(exec_errno));
  }
  to_server_ = req_w;
  from_server_ = rep_r;
  req_w = rep_r = -1;  // owned by the members now
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
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return describe_status(status);
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
  unregister_child(child_slot_);  // the pid stays ours (a zombie) until waitpid below
  child_slot_ = -1;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
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

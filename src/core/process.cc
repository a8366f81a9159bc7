#include "gift/core/process.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "gift/core/error.h"
#include "gift/core/interrupt.h"

extern char** environ;

namespace gift {
namespace {

bool executable_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Moves `fd` to a descriptor >= 3 (close-on-exec), so that dup2 onto 0, 1 or 2 in the child
// always changes it; returns the new descriptor. Closes `fd` also when it throws.
int above_stdio(int fd, const std::string& what) {
  if (fd > 2) return fd;
  const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const int saved = errno;
  close(fd);
  if (moved < 0) throw InputError("cannot start " + what + ": fcntl: " + std::strerror(saved));
  return moved;
}

// The descriptors of a spawn: the child's stdin source, its stdout pipe, and the pipe that
// carries the errno of a failed exec. All close-on-exec and >= 3.
struct Descriptors {
  int in_r = -1, in_w = -1;    // stdin: a pipe (pipe_stdin), or /dev/null in in_r
  int out_r = -1, out_w = -1;  // stdout (and stderr with stderr_to_stdout)
  int err_r = -1, err_w = -1;  // the errno of a failed exec
  void close_all() {
    for (int* fd : {&in_r, &in_w, &out_r, &out_w, &err_r, &err_w}) close_fd(*fd);
  }
};

// A pipe into r (read end) and w (write end), both moved above stdio.
void open_pipe(int& r, int& w, const std::string& what) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    throw InputError("cannot start " + what + ": pipe: " + std::strerror(errno));
  }
  r = fds[0];
  w = fds[1];
  for (int* fd : {&r, &w}) {
    const int old = *fd;
    *fd = -1;  // above_stdio closes it, also when it throws
    *fd = above_stdio(old, what);
  }
}

Descriptors open_descriptors(bool pipe_stdin, const std::string& what) {
  Descriptors d;
  try {
    if (pipe_stdin) {
      open_pipe(d.in_r, d.in_w, what);
    } else {
      const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (null < 0) {
        throw InputError("cannot start " + what + ": /dev/null: " + std::strerror(errno));
      }
      d.in_r = above_stdio(null, what);
    }
    open_pipe(d.out_r, d.out_w, what);
    open_pipe(d.err_r, d.err_w, what);
  } catch (...) {
    d.close_all();
    throw;
  }
  return d;
}

// The child, after fork: async-signal-safe calls only, up to exec. Never returns.
[[noreturn]] void exec_child(const Descriptors& d, const SpawnOptions& o, pid_t parent,
                             const char* path, char* const* args, const char* sh,
                             char* const* sh_args) {
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
  if (o.stop_with_parent && (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)) {
    _exit(127);
  }
  if (dup2(d.in_r, STDIN_FILENO) < 0 || dup2(d.out_w, STDOUT_FILENO) < 0 ||
      (o.stderr_to_stdout && dup2(d.out_w, STDERR_FILENO) < 0)) {
    const int e = errno;
    (void)!write(d.err_w, &e, sizeof e);
    _exit(127);
  }
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);  // nothing else of gift's leaks into the child
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(path, args, environ);
  if (errno == ENOEXEC) execve(sh, sh_args, environ);
  const int e = errno;
  (void)!write(d.err_w, &e, sizeof e);
  _exit(127);
}

// Reads the errno of a failed exec from `fd` (closed on a successful exec); 0 if none.
int exec_error(int fd) {
  int exec_errno = 0;
  size_t got = 0;
  while (got < sizeof exec_errno) {
    const ssize_t r = read(fd, reinterpret_cast<char*>(&exec_errno) + got, sizeof exec_errno - got);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r == 0 || errno != EINTR) {
      break;
    }
  }
  return got == sizeof exec_errno ? exec_errno : 0;
}

}  // namespace

std::string find_in_path(const std::string& name, int* error) {
  int ignored = 0;
  int& err = error != nullptr ? *error : ignored;
  if (name.find('/') != std::string::npos) return name;
  const char* env = std::getenv("PATH");
  const std::string dirs = env && *env ? env : "/bin:/usr/bin";
  err = ENOENT;
  size_t begin = 0;
  for (;;) {
    const size_t end = std::min(dirs.find(':', begin), dirs.size());
    const std::string dir = dirs.substr(begin, end - begin);
    const std::string candidate = dir.empty() ? name : dir + "/" + name;
    if (executable_file(candidate)) return candidate;
    if (access(candidate.c_str(), F_OK) == 0) err = EACCES;
    if (end == dirs.size()) return "";
    begin = end + 1;
  }
}

ChildProcess spawn(const std::vector<std::string>& argv, const SpawnOptions& options,
                   const std::string& what) {
  if (argv.empty() || argv[0].empty()) throw InputError("cannot start " + what + ": no command");
  // Resolved here, before fork: the child may only make async-signal-safe calls.
  int find_error = 0;
  std::string path = find_in_path(argv[0], &find_error);
  if (path.empty()) throw InputError("cannot start " + what + ": " + std::strerror(find_error));
  std::vector<std::string> strings = argv;
  std::vector<char*> args, sh_args;
  for (std::string& a : strings) args.push_back(a.data());
  args.push_back(nullptr);
  std::string sh = "/bin/sh";  // for a script without "#!", as execvp does
  sh_args = {sh.data(), path.data()};
  sh_args.insert(sh_args.end(), args.begin() + 1, args.end());

  Descriptors d = open_descriptors(options.pipe_stdin, what);
  // All signals stay blocked across fork, so that neither process runs a handler in between
  // (in the child, gift's handlers would stop gift's other children).
  const pid_t parent = getpid();
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = fork();
  if (pid == 0)
    exec_child(d, options, parent, path.c_str(), args.data(), sh.c_str(), sh_args.data());
  const int fork_errno = errno;
  ChildProcess child;
  if (pid > 0) {
    child.pid = pid;
    // Before any signal can be handled.
    if (options.stop_with_parent) child.interrupt_slot = register_child(pid);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close_fd(d.in_r);
  close_fd(d.out_w);
  close_fd(d.err_w);
  if (pid < 0) {
    d.close_all();
    throw InputError("cannot start " + what + ": fork: " + std::strerror(fork_errno));
  }
  // The error pipe closes on a successful exec, or carries the errno of a failed one.
  const int exec_errno = exec_error(d.err_r);
  if (exec_errno != 0) {
    d.close_all();
    kill(pid, SIGKILL);
    unregister_child(child.interrupt_slot);  // the pid stays ours (a zombie) until reaped
    wait_status(pid);
    throw InputError("cannot start " + what + ": " + std::strerror(exec_errno));
  }
  close_fd(d.err_r);
  child.to_child = d.in_w;
  child.from_child = d.out_r;
  return child;
}

int wait_status(pid_t pid) noexcept {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "ended";
}

RunResult run_captured(const std::vector<std::string>& argv, const std::string& what) {
  SpawnOptions o;
  o.stderr_to_stdout = true;
  ChildProcess child = spawn(argv, o, what);
  RunResult result;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(child.from_child, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  close_fd(child.from_child);
  const int status = wait_status(child.pid);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace gift

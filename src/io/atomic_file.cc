#include "gift/io/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "gift/core/error.h"
#include "gift/core/interrupt.h"

namespace gift::io {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Closes a descriptor on scope exit unless released.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }
  // Closes now and returns close()'s errno (0 on success).
  int close_now() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// Writes all of [data, data + size) to fd; returns 0 or an errno value.
int write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Best effort: makes the rename durable. Failure here does not undo a completed rename.
void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// Removes "<base>.tmp.<pid>" files in `dir` whose writer process no longer exists (a
// write killed by SIGKILL). Best effort: errors are ignored.
void remove_stale_temporaries(const std::string& dir, const std::string& base) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const std::string prefix = base + ".tmp.";
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH)
      stale.push_back(name);
  }
  ::closedir(d);
  for (const std::string& name : stale) ::unlink((dir + "/" + name).c_str());
}

// Unregisters a temporary file from core/interrupt.h on scope exit.
class TempRegistration {
 public:
  explicit TempRegistration(const std::string& path) : slot_(register_temp_file(path.c_str())) {}
  ~TempRegistration() { unregister_temp_file(slot_); }
  TempRegistration(const TempRegistration&) = delete;
  TempRegistration& operator=(const TempRegistration&) = delete;

 private:
  int slot_;
};

}  // namespace

void write_file_atomic(const std::string& path, const std::string& contents) {
  if (path.empty()) throw InputError("cannot write file: expected a path, found an empty string");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const std::string dir = parent_dir(path);
  try {
    make_dirs(dir);
  } catch (const InputError& e) {
    throw InputError("cannot write file '" + path + "': " + e.what());
  }
  remove_stale_temporaries(
      dir,
      path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1));
  const TempRegistration registration(tmp);
  const auto fail = [&](const std::string& what, int err) {
    ::unlink(tmp.c_str());
    throw InputError("cannot write file '" + path + "': " + what + ": " + errno_text(err));
  };

  FdGuard fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (fd.get() < 0) {
    int err = errno;
    // Nothing was created, so there is nothing to unlink (and tmp may belong to someone else).
    throw InputError("cannot write file '" + path + "': cannot create temporary '" + tmp +
                     "': " + errno_text(err));
  }
  if (stop_requested()) fail("stopped by a signal", EINTR);  // the handler may have run already
  if (int err = write_all(fd.get(), contents.data(), contents.size())) fail("write failed", err);
  if (::fsync(fd.get()) != 0) fail("fsync failed", errno);
  if (int err = fd.close_now()) fail("close failed", err);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename from '" + tmp + "' failed", errno);
  fsync_dir(dir);
}

std::string read_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the flag is harmless for files.
  FdGuard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) throw InputError("cannot read file '" + path + "': " + errno_text(errno));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    throw InputError("cannot read file '" + path + "': " + errno_text(errno));
  if (S_ISDIR(st.st_mode)) throw InputError("cannot read file '" + path + "': it is a directory");
  if (!S_ISREG(st.st_mode)) throw InputError("cannot read file '" + path + "': not a regular file");
  std::string out;
  if (st.st_size > 0) {
    try {
      out.reserve(static_cast<size_t>(st.st_size));
    } catch (const std::bad_alloc&) {
      throw InputError("cannot read file '" + path + "': out of memory for its " +
                       std::to_string(st.st_size) + " bytes");
    }
  }
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError("cannot read file '" + path + "': " + errno_text(errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void make_dirs(const std::string& dir) {
  if (dir.empty()) return;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    const std::string part = dir.substr(0, pos);
    if (part.empty() || part == "/") continue;
    struct stat st;
    if (::stat(part.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        throw InputError("cannot create directory '" + dir + "': '" + part +
                         "' is not a directory");
      continue;
    }
    if (::mkdir(part.c_str(), 0777) != 0 && errno != EEXIST) {
      throw InputError("cannot create directory '" + part + "': " + errno_text(errno));
    }
  }
}

void prepare_output(const std::string& path) {
  if (path.empty()) throw InputError("cannot write file: expected a path, found an empty string");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    throw InputError("cannot write '" + path + "': it is a directory");
  }
  // The nearest existing ancestor of the file's directory decides: it must be a writable
  // directory. Nothing is created here (a run that fails later leaves nothing behind);
  // write_file_atomic creates the missing directories when it writes.
  std::string dir = parent_dir(path);
  for (;;) {
    if (::stat(dir.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) {
        throw InputError("cannot write '" + path + "': '" + dir + "' is not a directory");
      }
      if (::access(dir.c_str(), W_OK) != 0) {
        throw InputError("cannot write '" + path + "': directory '" + dir + "' is not writable");
      }
      return;
    }
    if (errno != ENOENT) {
      throw InputError("cannot write '" + path + "': '" + dir + "': " + errno_text(errno));
    }
    dir = parent_dir(dir);
  }
}

}  // namespace gift::io

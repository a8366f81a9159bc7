#include "run_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "gift/core/error.h"
#include "gift/io/atomic_file.h"

namespace gift::experiment::detail {

std::string errno_text(int err) { return std::strerror(err); }

bool path_exists(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  throw InputError("cannot access '" + path + "': " + errno_text(errno));
}

void check_run_dir(const std::string& dir, const std::string& what) {
  if (!path_exists(dir)) return;
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw InputError("cannot use '" + dir + "' as the " + what +
                     " directory: it is not a directory");
  }
}

std::string resume_line(size_t skipped, size_t total, const std::string& path) {
  return "resuming: " + std::to_string(skipped) + " of " + std::to_string(total) +
         " cells already finished in " + path;
}

namespace {

// "pid 123 on host h (started 2026-12-07T20:49:30Z: gift sweep --study s.json --out o)": who
// this process is, the line a DirLock holder writes into its lock file.
std::string holder_line() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "?");
  char when[32] = "?";
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  if (::gmtime_r(&now, &tm)) std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string command;  // /proc reports size 0: read until the end
  const int fd = ::open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  char buf[512];
  for (ssize_t n; fd >= 0 && command.size() < 4096 && (n = ::read(fd, buf, sizeof buf)) > 0;) {
    for (ssize_t i = 0; i < n; ++i) command += buf[i] == '\0' || buf[i] == '\n' ? ' ' : buf[i];
  }
  if (fd >= 0) ::close(fd);
  while (!command.empty() && command.back() == ' ') command.pop_back();
  // The program by its name alone (its folder can be long), and a long line cut in the middle:
  // the end holds what tells two runs apart, such as --out.
  const size_t program_end = command.find(' ');
  const size_t slash = command.rfind('/', program_end);
  if (slash != std::string::npos) command.erase(0, slash + 1);
  if (command.size() > 300)
    command = command.substr(0, 140) + " ... " + command.substr(command.size() - 140);
  return "pid " + std::to_string(::getpid()) + " on host " + host + " (started " + when +
         (command.empty() ? "" : ": " + command) + ")";
}

}  // namespace

DirLock::DirLock(const std::string& dir, const std::string& what)
    : dir_(dir), path_(dir + "/" + kFileName) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    // O_NOFOLLOW: a link put there is refused, never followed.
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
      throw InputError("cannot create the lock file '" + path_ + "' of the " + what +
                       " directory: " + errno_text(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err != EWOULDBLOCK) {
        ::close(fd);
        throw InputError("cannot lock '" + path_ + "': " + errno_text(err));
      }
      // The holder writes its line right after it locks: wait up to 200 ms for a whole line.
      char buf[512];
      std::string holder;
      for (int tries = 0; tries < 40; ++tries) {
        const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        holder.assign(buf, n > 0 ? static_cast<size_t>(n) : 0);
        if (!holder.empty() && holder.back() == '\n') break;
        ::usleep(5000);
      }
      ::close(fd);
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\r')) holder.pop_back();
      if (holder.empty()) holder = "another process (starting; it has not written its name yet)";
      throw InputError("the " + what + " directory '" + dir + "' is in use by " + holder +
                       "; wait for it to finish, or use another directory");
    }
    struct stat held, named;
    if (::fstat(fd, &held) == 0 && ::stat(path_.c_str(), &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      fd_ = fd;
      const std::string line = holder_line() + "\n";
      // Written in place, not renamed into place: the lock is on this very file.
      if (::ftruncate(fd_, 0) != 0 ||
          ::pwrite(fd_, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
        const int err = errno;
        ::unlink(path_.c_str());
        ::close(fd_);
        throw InputError("cannot write the lock file '" + path_ + "': " + errno_text(err));
      }
      return;
    }
    ::close(fd);  // its previous holder removed it as we opened it: lock the new one
  }
  throw InputError("cannot lock '" + path_ + "': it keeps being replaced");
}

DirLock::~DirLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still held: see the class comment
  ::close(fd_);
}

void CreatedPaths::make_dirs(const std::string& dir) {
  std::vector<std::string> missing;
  const auto strip = [](std::string d) {
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    return d;
  };
  for (std::string d = strip(dir); !d.empty() && d != "/" && d != "." && !path_exists(d);) {
    missing.push_back(d);
    const size_t slash = d.find_last_of('/');
    d = slash == std::string::npos ? "" : strip(d.substr(0, slash));
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) paths_.push_back({*it, true});
  io::make_dirs(dir);
}

void CreatedPaths::will_create(const std::string& file) {
  if (!path_exists(file)) paths_.push_back({file, false});
}

bool CreatedPaths::remove_unless_work(const std::string& results,
                                      const std::string& models) noexcept {
  struct stat st;
  if (::stat(results.c_str(), &st) == 0 && st.st_size > 0) return false;
  if (DIR* d = ::opendir(models.c_str())) {
    bool any = false;
    while (const dirent* e = ::readdir(d)) {
      any = any || (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0);
    }
    ::closedir(d);
    if (any) return false;
  }
  for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) {
    if (it->second) {
      ::rmdir(it->first.c_str());
    } else {
      ::unlink(it->first.c_str());
    }
  }
  return true;
}

void CreatedPaths::remove_empty_dirs() noexcept {
  for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) {
    if (it->second) ::rmdir(it->first.c_str());
  }
}

HeldRunDir::HeldRunDir(const std::string& dir, const std::string& what) {
  check_run_dir(dir, what);
  created_.make_dirs(dir);
  try {
    lock_.emplace(dir, what);
  } catch (...) {
    created_.remove_empty_dirs();
    throw;
  }
}

void HeldRunDir::abandon(const std::string& results, const std::string& models) noexcept {
  const bool removed = created_.remove_unless_work(results, models);
  lock_.reset();
  if (removed) created_.remove_empty_dirs();
}

}  // namespace gift::experiment::detail

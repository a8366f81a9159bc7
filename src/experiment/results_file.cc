#include "results_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <ctime>

#include "experiment_util.h"
#include "gift/io/atomic_file.h"

namespace gift::experiment::detail {

ExistingResults read_existing_results(const std::string& path) {
  ExistingResults r;
  r.text = path_exists(path) ? io::read_file(path) : "";
  const size_t last = r.text.rfind('\n');
  r.complete_bytes = last == std::string::npos ? 0 : last + 1;
  return r;
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

ResultsFile::ResultsFile(const std::string& path, size_t keep, const DirLock& held) : path_(path) {
  (void)held;  // its existence is the point: only the folder's holder opens its results
  // O_NONBLOCK: a FIFO put there since must not block the open.
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd_ < 0) throw InputError("cannot open '" + path + "' for appending: " + errno_text(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw InputError("cannot append to '" + path + "': not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > keep && ::ftruncate(fd_, static_cast<off_t>(keep)) != 0) {
    const int err = errno;
    ::close(fd_);
    throw InputError("cannot drop the partial last line of '" + path + "': " + errno_text(err));
  }
}

ResultsFile::~ResultsFile() {
  if (fd_ >= 0) ::close(fd_);
}

void ResultsFile::append(const nlohmann::json& row) {
  const std::string line = row.dump() + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  if (broken_) throw InputError("cannot append to '" + path_ + "': an earlier append failed");
  const off_t end = ::lseek(fd_, 0, SEEK_END);
  const ssize_t n = ::write(fd_, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) {
    const int err = n < 0 ? errno : ENOSPC;
    // A partial line would be a malformed middle line once another row follows it: cut it
    // off (or, if that fails, leave it last, where the next run drops it) and append no more.
    broken_ = true;
    const bool cut = end >= 0 && ::ftruncate(fd_, end) == 0;
    (void)cut;
    throw InputError("cannot append a result to '" + path_ + "': " + errno_text(err));
  }
  if (::fsync(fd_) != 0) {
    throw InputError("cannot flush a result to '" + path_ + "': " + errno_text(errno));
  }
}

}  // namespace gift::experiment::detail

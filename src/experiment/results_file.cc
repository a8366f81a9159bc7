#include "results_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <ctime>

#include "gift/io/atomic_file.h"
#include "run_dir.h"

namespace gift::experiment::detail {

ExistingResults read_existing_results(const std::string& path) {
  ExistingResults r;
  r.text = path_exists(path) ? io::read_file(path) : "";
  const size_t last = r.text.rfind('\n');
  r.complete_bytes = last == std::string::npos ? 0 : last + 1;
  return r;
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

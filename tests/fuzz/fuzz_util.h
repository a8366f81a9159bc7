// Shared by the fuzz bodies (<name>_body.h): an in-memory file for the entry points that
// take a path or a file descriptor, and a check that turns a broken guarantee into a crash
// (libFuzzer) or a failed test (the corpus replay in fuzz_corpus_test.cc).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "gift/core/error.h"

namespace gift::fuzz {

// An anonymous in-memory file (memfd) holding the given bytes, positioned at its start.
// path() names it for APIs that open a path ("/proc/self/fd/N", a regular file).
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) {
    fd_ = memfd_create("gift-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) throw InternalError(std::string("memfd_create: ") + std::strerror(errno));
    for (size_t done = 0; done < size;) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw InternalError(std::string("memfd write: ") + std::strerror(errno));
      done += static_cast<size_t>(n);
    }
    if (::lseek(fd_, 0, SEEK_SET) != 0) throw InternalError("memfd lseek failed");
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  int fd() const { return fd_; }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_ = -1;
};

// A guarantee of the code under test. Broken, it throws InternalError, which no body
// catches: libFuzzer reports the uncaught exception as a crash, the replay test as a failure.
inline void require(bool ok, const std::string& what) {
  if (!ok) throw InternalError("fuzz: broken guarantee: " + what);
}

}  // namespace gift::fuzz

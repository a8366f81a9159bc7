// Study folders (sweep and frontier directories): what may be one, the lock that makes one
// process its only writer, and the bookkeeping that removes what a failed first run created;
// internal to the library, not installed. POSIX calls stay in run_dir.cc.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gift::experiment::detail {

// strerror(err).
std::string errno_text(int err);

// Whether `path` exists (as anything). Throws InputError if it cannot tell (EACCES, ENOTDIR
// below a file, ...).
bool path_exists(const std::string& path);

// Throws InputError("cannot use '<dir>' as the <what> directory: it is not a directory") if
// `dir` exists and is not a directory.
void check_run_dir(const std::string& dir, const std::string& what);

// "resuming: <skipped> of <total> cells already finished in <path>".
std::string resume_line(size_t skipped, size_t total, const std::string& path);

// One writer per study folder (a sweep's, a frontier's): an exclusive flock(2) on <dir>/.gift-lock,
// held while the object lives. The kernel drops the lock when the process ends however it ends
// (SIGKILL included), so a killed run never blocks the next. The file holds one line naming the
// holder (pid, host, start time, command); a refused process quotes it. The holder unlinks the
// file before it lets go; a process that locked a file unlinked meanwhile sees the path name
// another file (or none), lets go and tries again, so two processes never both hold the folder.
class DirLock {
 public:
  static constexpr const char* kFileName = ".gift-lock";
  // Locks the existing directory `dir` for a `what` run ("sweep", "frontier"). Throws
  // InputError("the <what> directory '<dir>' is in use by pid P on host H (started T: <command>);
  // ...") if another process holds it, or InputError naming the lock file if it cannot be made.
  DirLock(const std::string& dir, const std::string& what);
  ~DirLock();  // unlinks the lock file, then lets go
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, path_;
  int fd_ = -1;
};

// What this run created for a study directory: the directory and any missing parents, and the
// files it said it will create (models/, config.json, the results file). If the run fails while
// the directory holds no finished work (no result row, no model file), remove_unless_work()
// removes exactly these again, so a failed first run leaves nothing behind; nothing that existed
// before the run is touched.
class CreatedPaths {
 public:
  // Creates `dir` with its parents (io::make_dirs), remembering each level it made.
  void make_dirs(const std::string& dir);
  // Remembers `file` if it does not exist yet (call before creating it).
  void will_create(const std::string& file);
  // Returns false, removing nothing, if there is work: a non-empty `results` file or an entry
  // in the `models` directory. rmdir only removes an empty directory, so nothing made by
  // others since is lost.
  bool remove_unless_work(const std::string& results, const std::string& models) noexcept;
  // rmdir()s again the directories this run made (those that are empty now).
  void remove_empty_dirs() noexcept;

 private:
  std::vector<std::pair<std::string, bool>> paths_;  // (path, is a directory), in creation order
};

// A study folder this process writes: check_run_dir, then created with its parents if missing
// (remembered, as CreatedPaths) and locked (DirLock) before anything in it is read, so that its
// config check, the resume and every write happen under one writer. Lets go when destroyed.
class HeldRunDir {
 public:
  HeldRunDir(const std::string& dir, const std::string& what);
  CreatedPaths& created() { return created_; }
  const DirLock& lock() const { return *lock_; }
  // After a failure or a refusal: removes what this run created unless the folder holds work
  // (CreatedPaths::remove_unless_work) while still holding it, then lets go and removes the
  // directories it made (the lock file gone, they are empty unless someone else wrote there).
  void abandon(const std::string& results, const std::string& models) noexcept;

 private:
  CreatedPaths created_;
  std::optional<DirLock> lock_;
};

}  // namespace gift::experiment::detail

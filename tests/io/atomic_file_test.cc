// Atomic writes, whole-file reads and output preparation.
#include "gift/io/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "../test_util.h"

namespace gift::io {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// The pid of a process that has exited and been reaped (so no process has it, barring reuse).
pid_t dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

TEST(AtomicFile, WritesAndReadsBack) {
  TempDir tmp;
  write_file_atomic(tmp.path("a.bin"), std::string("x\0y", 3));
  EXPECT_EQ(read_file(tmp.path("a.bin")), std::string("x\0y", 3));
  write_file_atomic(tmp.path("a.bin"), "second");
  EXPECT_EQ(read_file(tmp.path("a.bin")), "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.dir()), fs::directory_iterator()), 1);
}

TEST(AtomicFile, RemovesTemporariesOfDeadWritersOnly) {
  TempDir tmp;
  const std::string target = tmp.path("m.safetensors");
  const std::string stale = target + ".tmp." + std::to_string(dead_pid());
  const std::string live = target + ".tmp.1";  // pid 1 always runs
  const std::string other = tmp.path("other.safetensors.tmp.999999999");
  for (const std::string& p : {stale, live, other}) write_file_atomic(p, "partial");
  write_file_atomic(target, "whole");
  EXPECT_FALSE(fs::exists(stale)) << "a killed writer's temporary was left behind";
  EXPECT_TRUE(fs::exists(live)) << "a running writer's temporary was removed";
  EXPECT_TRUE(fs::exists(other)) << "another file's temporary was removed";
}

TEST(AtomicFile, FailureLeavesTargetAndNoTemporary) {
  TempDir tmp;
  write_file_atomic(tmp.path("file"), "a");
  EXPECT_INPUT_ERROR(write_file_atomic(tmp.path("file/x"), "a"), "file", "not a directory");
  fs::remove(tmp.path("file"));
  EXPECT_INPUT_ERROR(write_file_atomic("", "a"), "empty");
  fs::create_directory(tmp.path("dir"));
  EXPECT_INPUT_ERROR(write_file_atomic(tmp.path("dir"), "a"), "dir");
  EXPECT_TRUE(fs::is_directory(tmp.path("dir")));
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.dir()), fs::directory_iterator()), 1);
}

TEST(ReadFile, RefusesWhatIsNotARegularFile) {
  TempDir tmp;
  EXPECT_INPUT_ERROR(read_file(tmp.path("none")), "none", "No such file");
  EXPECT_INPUT_ERROR(read_file(tmp.dir()), "is a directory");
  // A FIFO without a writer would block open() and read() for ever.
  const std::string fifo = tmp.path("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto done = std::async(std::launch::async,
                         [&] { return test::input_error_message([&] { read_file(fifo); }); });
  ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "read_file hangs on a FIFO";
  EXPECT_NE(done.get().find("not a regular file"), std::string::npos);
}

TEST(PrepareOutput, AcceptsMissingDirectoriesAndCreatesNothing) {
  TempDir tmp;
  prepare_output(tmp.path("a/b/c/out.json"));
  EXPECT_FALSE(fs::exists(tmp.path("a")));
  write_file_atomic(tmp.path("a/b/c/out.json"), "x");  // the write creates them
  EXPECT_EQ(read_file(tmp.path("a/b/c/out.json")), "x");
  prepare_output(tmp.path("a/b/c/out.json"));
  make_dirs(tmp.path("x/y/"));
  EXPECT_TRUE(fs::is_directory(tmp.path("x/y")));
}

TEST(PrepareOutput, RefusesAFileInThePathOrADirectoryAsTarget) {
  TempDir tmp;
  write_file_atomic(tmp.path("file"), "x");
  EXPECT_INPUT_ERROR(prepare_output(tmp.path("file/out.json")), "file", "not a directory");
  EXPECT_INPUT_ERROR(make_dirs(tmp.path("file/sub")), "not a directory");
  fs::create_directory(tmp.path("d"));
  EXPECT_INPUT_ERROR(prepare_output(tmp.path("d")), "is a directory");
  EXPECT_INPUT_ERROR(prepare_output(""), "empty");
}

// A write that fails after the temporary was created (the file size limit stops it part way)
// removes the temporary and leaves the old file as it was. Run in a child, whose limit and
// pid (the temporary's name) are its own.
TEST(AtomicFile, AFailedWriteLeavesTheOldFileAndRemovesItsTemporary) {
  TempDir tmp;
  const std::string target = tmp.path("model.json");
  write_file_atomic(target, "old");
  const pid_t pid = fork();
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead of killing the child
    const rlimit limit{4096, 4096};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(2);
    try {
      write_file_atomic(target, std::string(100000, 'n'));
    } catch (const InputError& e) {
      const std::string msg = e.what();
      const bool named = msg.find(target) != std::string::npos;
      const bool why = msg.find("write failed") != std::string::npos;
      const bool gone = !fs::exists(target + ".tmp." + std::to_string(getpid()));
      _exit(named && why && gone ? 0 : 3);
    }
    _exit(4);  // the write succeeded beyond the limit
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "2: setrlimit, 3: wrong message or temporary left, 4: no error";
  EXPECT_EQ(read_file(target), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.dir()), fs::directory_iterator()), 1);
}

// The target is replaced by a rename, never rewritten in place: a hard link to the old file
// keeps the old contents, and a symbolic link at the target is replaced, not followed.
TEST(AtomicFile, TheTargetIsReplacedNotRewritten) {
  TempDir tmp;
  const std::string target = tmp.path("t.bin"), keep = tmp.path("keep.bin");
  write_file_atomic(target, "old contents");
  fs::create_hard_link(target, keep);
  write_file_atomic(target, "new");
  EXPECT_EQ(read_file(target), "new");
  EXPECT_EQ(read_file(keep), "old contents");

  const std::string other = tmp.path("other.bin"), link = tmp.path("link.bin");
  write_file_atomic(other, "other");
  fs::create_symlink(other, link);
  write_file_atomic(link, "via link");
  EXPECT_FALSE(fs::is_symlink(link));
  EXPECT_EQ(read_file(link), "via link");
  EXPECT_EQ(read_file(other), "other");
}

// A reader running beside the writer sees the whole old file or the whole new one.
TEST(AtomicFile, AConcurrentReaderSeesTheOldOrTheNewFileNeverAPart) {
  TempDir tmp;
  const std::string target = tmp.path("big.bin");
  const size_t size = 1 << 16;
  write_file_atomic(target, std::string(size, 'a'));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 40; ++i) write_file_atomic(target, std::string(size, i % 2 ? 'a' : 'b'));
    done = true;
  });
  int reads = 0, bad = 0;
  while (!done || reads == 0) {
    const std::string s = read_file(target);
    const bool whole =
        s.size() == size && (s == std::string(size, 'a') || s == std::string(size, 'b'));
    bad += !whole;
    ++reads;
  }
  writer.join();
  EXPECT_EQ(bad, 0) << "of " << reads << " reads";
}

}  // namespace
}  // namespace gift::io

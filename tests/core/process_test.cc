// core/process: PATH lookup as execvp does it, spawn with pipes, exit statuses, and the errors of
// a program that cannot be started.
#include "gift/core/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

#include "../test_util.h"
#include "gift/core/error.h"
#include "gift/core/interrupt.h"

namespace gift {
namespace {

using test::expect_input_error;
using test::TempDir;

// Sets PATH for the lifetime of the object, then restores it.
class ScopedPath {
 public:
  explicit ScopedPath(const std::string& value) {
    const char* old = std::getenv("PATH");
    had_ = old != nullptr;
    if (had_) saved_ = old;
    ::setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() {
    if (had_) {
      ::setenv("PATH", saved_.c_str(), 1);
    } else {
      ::unsetenv("PATH");
    }
  }

 private:
  bool had_ = false;
  std::string saved_;
};

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

TEST(Process, RunCapturedReturnsTheExitStatus) {
  EXPECT_EQ(run_captured({"/bin/sh", "-c", "exit 3"}, "sh").exit_code, 3);
  EXPECT_EQ(run_captured({"/bin/sh", "-c", "exit 0"}, "sh").exit_code, 0);
  EXPECT_EQ(run_captured({"/bin/sh", "-c", "kill -9 $$"}, "sh").exit_code, -1);
}

TEST(Process, RunCapturedCapturesStdoutAndStderrAndGivesNoStdin) {
  const RunResult r =
      run_captured({"/bin/sh", "-c", "echo out; echo err >&2; cat; echo end"}, "sh");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "out\nerr\nend\n");  // cat read /dev/null: nothing
}

TEST(Process, AMissingProgramIsAnInputError) {
  expect_input_error([] { run_captured({"/nonexistent/gift-program"}, "the tool"); },
                     {"cannot start the tool", "No such file or directory"});
  expect_input_error([] { spawn({"gift-no-such-program-in-path"}, {}, "x"); },
                     {"cannot start x", "No such file or directory"});
  expect_input_error([] { spawn({}, {}, "nothing"); }, {"cannot start nothing"});
}

TEST(Process, FindInPathLooksThroughPathInOrder) {
  TempDir a, b;
  write_file(a.path("tool"), "#!/bin/sh\nexit 0\n", 0644);  // not executable: skipped
  write_file(b.path("tool"), "#!/bin/sh\nexit 0\n", 0755);
  {
    const ScopedPath path(a.dir() + ":" + b.dir());
    EXPECT_EQ(find_in_path("tool"), b.path("tool"));
    int error = 0;
    EXPECT_EQ(find_in_path("gift-no-such-tool", &error), "");
    EXPECT_EQ(error, ENOENT);
  }
  {
    const ScopedPath path(a.dir());
    int error = 0;
    EXPECT_EQ(find_in_path("tool", &error), "");
    EXPECT_EQ(error, EACCES);  // there, but not executable
    expect_input_error([] { spawn({"tool"}, {}, "tool"); },
                       {"cannot start tool", "Permission denied"});
  }
  EXPECT_EQ(find_in_path("/a/path/as/given"), "/a/path/as/given");  // holds a '/': no lookup
}

TEST(Process, SpawnRunsAScriptWithoutInterpreterLineThroughSh) {
  TempDir dir;
  write_file(dir.path("script"), "echo \"from sh $1\"\nexit 4\n", 0755);
  const RunResult r = run_captured({dir.path("script"), "arg"}, "script");
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.output, "from sh arg\n");
}

TEST(Process, SpawnPipesStdinAndStdoutAndHandsBackCloseOnExecDescriptors) {
  SpawnOptions o;
  o.pipe_stdin = true;
  ChildProcess c = spawn({"/bin/sh", "-c", "read x; echo got $x; exit 5"}, o, "sh");
  ASSERT_GT(c.pid, 0);
  EXPECT_EQ(c.interrupt_slot, -1);
  for (int fd : {c.to_child, c.from_child}) {
    EXPECT_GT(fd, 2);
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
  }
  ASSERT_EQ(::write(c.to_child, "hello\n", 6), 6);
  ::close(c.to_child);
  std::string out;
  char buf[64];
  ssize_t n;
  while ((n = ::read(c.from_child, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(c.from_child);
  EXPECT_EQ(out, "got hello\n");
  const int status = wait_status(c.pid);
  EXPECT_EQ(describe_exit(status), "exited with status 5");
}

TEST(Process, DescribeExitNamesTheSignal) {
  ChildProcess c = spawn({"/bin/sh", "-c", "kill -9 $$"}, {}, "sh");
  ::close(c.from_child);
  EXPECT_EQ(describe_exit(wait_status(c.pid)).rfind("was killed by signal 9 (", 0), 0u);
}

TEST(Process, StopWithParentRegistersTheChild) {
  SpawnOptions o;
  o.stop_with_parent = true;
  ChildProcess c = spawn({"/bin/sh", "-c", "exit 0"}, o, "sh");
  EXPECT_GE(c.interrupt_slot, 0);
  unregister_child(c.interrupt_slot);
  ::close(c.from_child);
  EXPECT_EQ(describe_exit(wait_status(c.pid)), "exited with status 0");
}

}  // namespace
}  // namespace gift

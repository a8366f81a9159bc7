// The signal cleanup registry: what a stop signal undoes.
#include "gift/core/interrupt.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../test_util.h"

namespace gift {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// cleanup_after_signal marks the process as stopping for good (stop_requested() stays true,
// and every later atomic write refuses to start). So each test that calls it does so in a
// forked child, and this process, and the tests after it, never see the stopping state.
// Returns the child's exit status (f's return value), or -1 if it did not exit normally.
template <class F>
int in_child(F&& f) {
  const pid_t pid = fork();
  if (pid == 0) _exit(f());
  if (pid < 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(Interrupt, CleanupRemovesRegisteredTemporariesOnly) {
  TempDir tmp;
  const std::string a = tmp.path("a.tmp.1"), b = tmp.path("b.tmp.1");
  std::ofstream(a) << "x";
  std::ofstream(b) << "x";
  const int rc = in_child([&] {
    const int sa = register_temp_file(a.c_str());
    const int sb = register_temp_file(b.c_str());
    if (sa < 0 || sb < 0) return 2;
    unregister_temp_file(sb);
    cleanup_after_signal();
    unregister_temp_file(sa);
    return stop_requested() ? 0 : 3;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_FALSE(fs::exists(a));
  EXPECT_TRUE(fs::exists(b));
  EXPECT_FALSE(stop_requested());
}

TEST(Interrupt, CleanupStopsRegisteredChildren) {
  // The child registers a grandchild, stops it, and reports how it ended: 0 for SIGTERM.
  const int rc = in_child([] {
    const pid_t pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    if (pid < 0) return 2;
    const int slot = register_child(pid);
    if (slot < 0) return 3;
    cleanup_after_signal();
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return 4;
    unregister_child(slot);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM ? 0 : 5;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_FALSE(stop_requested());
}

TEST(Interrupt, SlotsAreReusedAndBounded) {
  std::vector<int> slots;
  for (int i = 0; i < kMaxRegistered; ++i) {
    slots.push_back(register_temp_file("/nonexistent/x"));
    ASSERT_GE(slots.back(), 0);
  }
  EXPECT_EQ(register_temp_file("/nonexistent/y"), -1);                // full: a no-op, not a crash
  EXPECT_EQ(register_temp_file(std::string(5000, 'p').c_str()), -1);  // too long
  unregister_temp_file(-1);                                           // harmless
  for (int s : slots) unregister_temp_file(s);
  const int again = register_temp_file("/nonexistent/z");
  EXPECT_GE(again, 0);
  unregister_temp_file(again);
}

}  // namespace
}  // namespace gift

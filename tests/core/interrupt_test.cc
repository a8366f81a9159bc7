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

#include "../data/idx_test_util.h"

namespace gift {
namespace {

namespace fs = std::filesystem;
using data::test_util::TempDir;

TEST(Interrupt, CleanupRemovesRegisteredTemporariesOnly) {
  TempDir tmp;
  const std::string a = tmp.path("a.tmp.1"), b = tmp.path("b.tmp.1");
  std::ofstream(a) << "x";
  std::ofstream(b) << "x";
  const int sa = register_temp_file(a.c_str());
  const int sb = register_temp_file(b.c_str());
  ASSERT_GE(sa, 0);
  ASSERT_GE(sb, 0);
  unregister_temp_file(sb);
  cleanup_after_signal();
  unregister_temp_file(sa);
  EXPECT_FALSE(fs::exists(a));
  EXPECT_TRUE(fs::exists(b));
}

TEST(Interrupt, CleanupStopsRegisteredChildren) {
  const pid_t pid = fork();
  if (pid == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(pid, 0);
  const int slot = register_child(pid);
  ASSERT_GE(slot, 0);
  cleanup_after_signal();
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  unregister_child(slot);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
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

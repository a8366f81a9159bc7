// End-to-end tests of `gift sweep` and `gift reproduce` (the built binary, GIFT_BINARY) on a tiny
// synthetic data set: a fresh clone's first command, config and grid errors as one-line input
// errors that leave nothing behind, a thread that cannot start, and a sweep stopped by SIGTERM
// or SIGINT that resumes without losing or recomputing a finished cell.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../experiment/experiment_test_util.h"
#include "../test_util.h"
#include "cli_test_util.h"

namespace gift {
namespace {

namespace fs = std::filesystem;
using experiment::test_util::files_under;
using experiment::test_util::lines_of;
using nlohmann::json;
using test::read_text;
using test::TempDir;
using test_util::Outcome;
using test_util::quote;

// 2 assumed x 3 true x 2 seeds x 3 methods = 36 cells, 6 networks.
json small_config(const std::string& data_dir) {
  return experiment::test_util::small_sweep_config(data_dir, 8);
}
constexpr size_t kCells = 36;

// The temporary files (*.tmp.<pid>) under `dir`.
std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> found;
  for (const std::string& f : files_under(dir)) {
    if (f.find(".tmp.") != std::string::npos) found.push_back(f);
  }
  return found;
}

class SweepCli : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(run_dir());
    experiment::test_util::write_tiny_data(data_dir());
  }
  std::string data_dir() const { return tmp_.path("data"); }
  std::string run_dir() const { return tmp_.path("run"); }

  std::string write_config(const std::string& name, const json& j) const {
    const std::string path = tmp_.path(name);
    std::ofstream(path) << j.dump();
    return path;
  }

  // Runs `gift args` in run/, with stdout and stderr captured.
  Outcome gift(const std::string& args) const {
    return test_util::run_gift("cd " + quote(run_dir()) + " && ", args, tmp_.path("stdout.txt"),
                               tmp_.path("stderr.txt"));
  }

  // Expects `gift args` to fail with exit 1 and one line "gift: error: ...<part>...".
  void expect_error(const std::string& args, const std::string& part) const {
    SCOPED_TRACE(args);
    const Outcome r = gift(args);
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_EQ(r.err.rfind("gift: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
  }

  // Starts `gift sweep` in the background (stdout and stderr to `log`); returns its pid.
  pid_t start_sweep(const std::string& config, const std::string& out, const std::string& log,
                    const char* jobs) const {
    const pid_t pid = fork();
    if (pid == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execl(GIFT_BINARY, GIFT_BINARY, "sweep", "--study", config.c_str(), "--out", out.c_str(),
            "--jobs", jobs, "--no-figures", static_cast<char*>(nullptr));
      _exit(127);
    }
    return pid;
  }

  TempDir tmp_;
};

// The README's first command on a fresh clone: out/ does not exist yet.
TEST_F(SweepCli, ReproduceCreatesOutOnAFreshClone) {
  const std::string mnist_like = tmp_.path("mnist");  // 28 x 28, enough for calib_size 1000
  fs::create_directory(mnist_like);
  test_util::write_synthetic_split(mnist_like, "train", 1000, 1, 28);
  test_util::write_synthetic_split(mnist_like, "t10k", 1100, 2, 28);
  ASSERT_FALSE(fs::exists(run_dir() + "/out"));
  const Outcome r =
      gift("reproduce --quick --data-dir " + quote(mnist_like) + " --max-cells 1 --no-figures");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("stopped early"), std::string::npos) << r.out;
  EXPECT_EQ(lines_of(run_dir() + "/out/reproduce-mnist-quick/results.jsonl").size(), 1u);
}

// Config faults are one-line input errors (exit 1), never a crash or "internal error", and
// create nothing.
TEST_F(SweepCli, ConfigErrorsAreOneLineAndCreateNothing) {
  const std::string out = quote(run_dir() + "/new/sweep");
  const auto args = [&](const std::string& config) {
    return "sweep --study " + quote(config) + " --out " + out;
  };
  std::ofstream(tmp_.path("deep.json")) << std::string(100000, '[') << std::string(100000, ']');
  expect_error(args(tmp_.path("deep.json")), "nested deeper");

  json j = small_config(data_dir());
  j["grids"][0]["site"] = 5;
  expect_error(args(write_config("site.json", j)), "'site'");

  j = small_config(data_dir());
  j["seeds"] = {1e30};
  expect_error(args(write_config("seed.json", j)), "'seeds'");

  // 2*10^4 x 2*10^4 x 25 seeds = 10^10 cells (in a config under 1 MiB): refused at once, by
  // the count, before anything is enumerated.
  j = small_config(data_dir());
  json levels = json::array();
  for (int i = 0; i < 20000; ++i) levels.push_back(i);
  j["grids"][0]["assumed"] = levels;
  j["grids"][0]["true"] = levels;
  j["seeds"] = json::array();
  for (int s = 0; s < 25; ++s) j["seeds"].push_back(s);
  j["methods"] = {"none"};
  expect_error(args(write_config("huge.json", j)), "10000000000 cells");

  j = small_config(tmp_.path("nowhere"));
  expect_error(args(write_config("nodata.json", j)), "nowhere");

  j = small_config(data_dir());
  j["arch"] = "784-10";
  expect_error(args(write_config("arch.json", j)), "784 inputs");

  EXPECT_EQ(files_under(run_dir()), std::set<std::string>{});
}

// A worker thread that cannot be started (1 GiB stacks in 4 GiB of address space) is a
// one-line error after the started ones are joined, not std::terminate.
TEST_F(SweepCli, AThreadThatCannotStartIsAnError) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a sanitizer reserves more address space than the limit allows";
#endif
  json j = small_config(data_dir());
  j["train"]["epochs"] = 1;
  j["seeds"] = json::array();
  for (int s = 1; s <= 20; ++s) j["seeds"].push_back(s);
  const std::string config = write_config("many.json", j);
  const std::string out = tmp_.path("threads"), log = tmp_.path("threads.log");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    const rlimit stack{rlim_t{1} << 30, rlim_t{1} << 30}, as{rlim_t{4} << 30, rlim_t{4} << 30};
    setrlimit(RLIMIT_STACK, &stack);
    setrlimit(RLIMIT_AS, &as);
    execl(GIFT_BINARY, GIFT_BINARY, "sweep", "--study", config.c_str(), "--out", out.c_str(),
          "--jobs", "40", "--no-figures", static_cast<char*>(nullptr));
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  const std::string text = read_text(log);
  ASSERT_TRUE(WIFEXITED(st)) << "killed by signal " << WTERMSIG(st) << ": " << text;
  EXPECT_EQ(WEXITSTATUS(st), 1) << text;
  EXPECT_NE(text.find("gift: error: cannot start 40 worker threads"), std::string::npos) << text;
  EXPECT_EQ(text.find("terminate"), std::string::npos) << text;
}

// SIGTERM while networks train, then SIGINT while cells run: each run stops with 128 + the
// signal, keeps every finished row and leaves no temporary file; the third run finishes
// without recomputing a cell or a network, and the rows equal those of an uninterrupted run.
TEST_F(SweepCli, StoppedBySignalsResumesWithoutLosingOrRecomputing) {
  const std::string config = write_config("c.json", small_config(data_dir()));
  const std::string a = tmp_.path("a"), results = a + "/results.jsonl";
  const auto stop_when = [&](const char* jobs, int sig, int expected_status,
                             const std::function<bool()>& ready) {
    const pid_t pid = start_sweep(config, a, tmp_.path("run.log"), jobs);
    ASSERT_GT(pid, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!ready() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    kill(pid, sig);
    int st = 0;
    waitpid(pid, &st, 0);
    const std::string log = read_text(tmp_.path("run.log"));
    ASSERT_TRUE(WIFEXITED(st)) << log;
    ASSERT_EQ(WEXITSTATUS(st), expected_status) << log;
    EXPECT_NE(log.find("stopped by"), std::string::npos) << log;
    EXPECT_EQ(temporaries(a), std::vector<std::string>{});
  };

  // 1: SIGTERM as soon as the first checkpoint is on disk, while two workers train and write
  // checkpoints (a worker that creates a temporary file while the handler runs removes it).
  stop_when("2", SIGTERM, 143, [&] {
    for (const std::string& f : files_under(a)) {
      if (f.rfind("models/", 0) == 0 && f.find(".tmp.") == std::string::npos) return true;
    }
    return false;
  });
  const std::vector<std::string> after_term = lines_of(results);
  ASSERT_LT(after_term.size(), kCells) << "the sweep finished before it was stopped";

  // 2: SIGINT once a few more cells are on disk (cells run after every network is trained).
  stop_when("2", SIGINT, 130, [&] { return lines_of(results).size() >= after_term.size() + 3; });
  const std::vector<std::string> after_int = lines_of(results);
  ASSERT_LT(after_int.size(), kCells) << "the sweep finished before it was stopped";
  ASSERT_GE(after_int.size(), after_term.size());
  for (size_t i = 0; i < after_term.size(); ++i) EXPECT_EQ(after_int[i], after_term[i]);

  // 3: the same command finishes the sweep. Every network was finished once cells ran (all
  // are trained before the first cell), so none is trained again.
  const Outcome r =
      gift("sweep --study " + quote(config) + " --out " + quote(a) + " --jobs 2 --no-figures");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  if (!after_int.empty()) {
    EXPECT_NE(r.out.find("resuming: " + std::to_string(after_int.size()) + " of " +
                         std::to_string(kCells)),
              std::string::npos)
        << r.out;
  }
  EXPECT_EQ(r.out.find("trained "), std::string::npos) << r.out;
  const std::vector<std::string> final_rows = lines_of(results);
  ASSERT_EQ(final_rows.size(), kCells);
  for (size_t i = 0; i < after_int.size(); ++i) EXPECT_EQ(final_rows[i], after_int[i]);
  EXPECT_EQ(temporaries(a), std::vector<std::string>{});

  // The same rows as an uninterrupted run (wall time is the one field allowed to differ).
  const std::string b = tmp_.path("b");
  const Outcome fresh =
      gift("sweep --study " + quote(config) + " --out " + quote(b) + " --jobs 1 --no-figures");
  ASSERT_EQ(fresh.status, 0) << fresh.out << fresh.err;
  const auto by_key = [](const std::vector<std::string>& lines) {
    std::map<std::string, json> rows;
    for (const std::string& l : lines) {
      json j = json::parse(l);
      j.erase("digital_seconds");
      j.erase("seconds");
      EXPECT_TRUE(rows.emplace(j.at("key").get<std::string>(), j).second) << "duplicate " << l;
    }
    return rows;
  };
  EXPECT_EQ(by_key(final_rows), by_key(lines_of(b + "/results.jsonl")));
}

}  // namespace
}  // namespace gift

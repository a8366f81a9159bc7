// The fixture of the tests that run the gift binary (cli_test.cc, cli_insitu_test.cc,
// cli_input_test.cc): each test gets a fresh directory holding data/ (a tiny synthetic data set)
// and run/ (the tool's working directory), and runs the built binary (GIFT_BINARY) through the
// shell, with stdout, stderr and the exit status captured.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../data/idx_test_util.h"
#include "../test_util.h"
#include "cli_test_util.h"
#include "gift/core/version.h"
#include "gift/data/idx.h"
#include "gift/io/checkpoint.h"
#include "gift/io/safetensors.h"

namespace gift::cli_test {

namespace fs = std::filesystem;
using data::test_util::make_idx;
using test::read_bytes;
using test::read_text;
using test::TempDir;
using test::write_bytes;
using test_util::Outcome;
using test_util::quote;

constexpr int kSide = 4;  // 4 x 4 images, 16 inputs
constexpr int kTrain = 200, kTest = 200;

// Each test: a fresh directory holding data/ (the synthetic data set) and run/ (the working
// directory of the tool, where its outputs go, so leftovers are easy to spot).
class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(data_dir());
    fs::create_directory(run_dir());
    test_util::write_synthetic_split(data_dir(), "train", kTrain, 1, kSide);
    test_util::write_synthetic_split(data_dir(), "t10k", kTest, 2, kSide);
  }

  std::string data_dir() const { return tmp_.path("data"); }
  std::string run_dir() const { return tmp_.path("run"); }
  std::string in_run(const std::string& name) const { return run_dir() + "/" + name; }

  // Runs `gift args` in run/.
  Outcome gift(const std::string& args) const { return gift_prefixed("", args); }

  Outcome gift_prefixed(const std::string& prefix, const std::string& args) const {
    return test_util::run_gift("cd " + quote(run_dir()) + " && " + prefix, args,
                               tmp_.path("stdout.txt"), tmp_.path("stderr.txt"));
  }

  // The options of a quick training run on the synthetic data.
  std::string train_args(const std::string& out, int epochs, const std::string& arch = "16-12-10",
                         int threads = 1) const {
    return "train --data-dir " + quote(data_dir()) + " --arch " + arch +
           " --batch-size 20 --lr 0.05 --seed 5 --threads " + std::to_string(threads) +
           " --epochs " + std::to_string(epochs) + " --out " + quote(out);
  }

  // Trains quickly into run/<name>, expecting success.
  void train_ok(const std::string& name, const std::string& extra = "", int epochs = 2,
                int threads = 1) const {
    const Outcome r = gift(train_args(in_run(name), epochs, "16-12-10", threads) + " " + extra);
    ASSERT_EQ(r.status, 0) << r.out << r.err;
  }

  // Names of the files in run/.
  std::set<std::string> run_files() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(run_dir())) {
      names.insert(e.path().filename().string());
    }
    return names;
  }

  // `gift args` fails: non-zero status, exactly one line on stderr that starts with
  // "gift: error:" and holds every part, and run/ holds what it held before.
  void expect_error(const std::string& args, std::initializer_list<std::string> parts) const {
    SCOPED_TRACE("gift " + args);
    const std::set<std::string> before = run_files();
    const Outcome r = gift(args);
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_EQ(r.err.rfind("gift: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << r.err;
    for (const std::string& p : parts) {
      EXPECT_NE(r.err.find(p), std::string::npos) << "stderr lacks \"" << p << "\": " << r.err;
    }
    EXPECT_EQ(run_files(), before) << "an output or temporary file was left behind";
  }

  // Runs `gift args` in run/ under `timeout seconds` (exit status 124 if it hangs).
  Outcome gift_with_timeout(const std::string& args, int seconds) const {
    return gift_prefixed("timeout " + std::to_string(seconds) + " ", args);
  }

  // `gift args` running in the background in run/, its output captured in files.
  class Background {
   public:
    Background(const Cli& cli, const std::string& args)
        : out_(cli.tmp_.path("bg-stdout.txt")), err_(cli.tmp_.path("bg-stderr.txt")) {
      unlink(out_.c_str());  // no output of an earlier run may be mistaken for this one's
      unlink(err_.c_str());
      pid_ = fork();
      if (pid_ == 0) {
        const std::string cmd = "cd " + quote(cli.run_dir()) + " && exec " + quote(GIFT_BINARY) +
                                " " + args + " >" + quote(out_) + " 2>" + quote(err_) +
                                " </dev/null";
        execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        _exit(127);
      }
    }
    ~Background() {
      if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
    }
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;
    pid_t pid() const { return pid_; }
    std::string out() const { return read_text(out_); }
    std::string err() const { return read_text(err_); }
    // True once stdout holds `text` (polled), false after `seconds`.
    bool wait_for_output(const std::string& text, int seconds) const {
      for (int i = 0; i < seconds * 100; ++i) {
        if (out().find(text) != std::string::npos) return true;
        usleep(10000);
      }
      return false;
    }
    // The wait status once the process ends (-1 if it runs on after `seconds`).
    int wait(int seconds) {
      for (int i = 0; i < seconds * 100; ++i) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          return status;
        }
        usleep(10000);
      }
      return -1;
    }

   private:
    std::string out_, err_;
    pid_t pid_ = -1;
  };

  TempDir tmp_;
};

// The number of lines of `text` in which `pattern` matches.
inline int count_lines(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern);
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += std::regex_search(line, re) ? 1 : 0;
  return n;
}

// The percentage after `label` in `text` ("test accuracy, noiseless:   93.00% [...]"), or -1.
inline double percent_after(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + label.size()));
}

}  // namespace gift::cli_test

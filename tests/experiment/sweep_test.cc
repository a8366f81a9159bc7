// gift sweep: configuration parsing, and a sweep killed with SIGKILL mid-run resumes
// without losing or recomputing a finished cell, ending with the same rows as an
// uninterrupted run with another number of jobs.
#include "gift/experiment/sweep.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "../cli/cli_test_util.h"
#include "../data/idx_test_util.h"
#include "gift/core/error.h"
#include "gift/data/idx.h"

namespace gift::experiment {
namespace {

using data::test_util::make_idx;
using data::test_util::TempDir;
using data::test_util::write_bytes;
using nlohmann::json;

json small_config(const std::string& data_dir) {
  json j = json::parse(R"({
    "dataset": "mnist", "arch": "16-12-10", "activation": "relu",
    "train": {"epochs": 2, "batch_size": 20, "lr": 0.02},
    "grids": [{"site": "sum_add", "assumed": [0.05, 0.5], "true": [0.05, 0.5, 1.0]}],
    "seeds": [1, 2], "methods": ["none", "gift", "hil"],
    "finetune": {"epochs": 3, "calib_size": 100, "calib_inputs": 20, "calib_repeats": 4},
    "eval_repeats": 2})");
  j["data_dir"] = data_dir;
  return j;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Runs `gift args` to completion; returns its stdout.
std::string run_gift(const std::string& args, int* status) {
  const std::string cmd = std::string(GIFT_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

std::map<std::string, json> rows_by_key(const std::string& path) {
  std::map<std::string, json> rows;
  for (const std::string& l : lines_of(path)) {
    json j = json::parse(l);
    j.erase("digital_seconds");  // wall time is the one field allowed to differ
    EXPECT_TRUE(rows.emplace(j.at("key").get<std::string>(), j).second) << "duplicate " << l;
  }
  return rows;
}

TEST(SweepConfig, ParsesAndRoundTrips) {
  const SweepConfig c = SweepConfig::from_json(small_config("/d"), "c.json");
  EXPECT_EQ(c.grids.size(), 1u);
  EXPECT_EQ(c.grids[0].name, "sum_add");
  EXPECT_EQ(c.grids[0].truth.size(), 3u);
  EXPECT_EQ(c.finetune.epochs, 3);
  EXPECT_EQ(c.calib_size, 100u);
  const SweepConfig back = SweepConfig::from_json(c.to_json(), "back");
  EXPECT_EQ(back.to_json(), c.to_json());
  json combined = small_config("/d");
  combined["grids"] = json::parse(R"([{"name": "both", "pattern": {"sum_add": 1.0, "weight": 0.2}, "assumed": [0.1], "true": [1]}])");
  const SweepConfig cc = SweepConfig::from_json(combined, "c.json");
  EXPECT_DOUBLE_EQ(cc.grids[0].pattern.layers[1].weight, 0.2);
}

TEST(SweepConfig, RejectsBadConfigs) {
  auto bad = [](const char* patch, const char* part) {
    json j = small_config("/d");
    j.merge_patch(json::parse(patch));
    try {
      SweepConfig::from_json(j, "c.json");
      ADD_FAILURE() << "accepted " << patch;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("c.json"), std::string::npos) << e.what();
    }
  };
  bad(R"({"colour": "red"})", "colour");
  bad(R"({"grids": []})", "grids");
  bad(R"({"grids": [{"site": "sum_add", "assumed": [-1], "true": [1]}]})", "assumed");
  bad(R"({"grids": [{"site": "nowhere", "assumed": [1], "true": [1]}]})", "nowhere");
  bad(R"({"grids": [{"site": "sum_add", "assumed": [1]}]})", "true");
  bad(R"({"train": {"epochs": "ten"}})", "epochs");
  bad(R"({"methods": ["magic"]})", "magic");
  bad(R"({"finetune": {"epoch": 5}})", "epoch");            // a typo is not silently ignored
  bad(R"({"train": {"epoch": 5}})", "epoch");
  bad(R"({"device": {"gain": 0.1}})", "gain");
  bad(R"({"finetune": {"calib_size": -1}})", "calib_size");  // would wrap to a huge size_t
  bad(R"({"seeds": [1, -2]})", "seeds");
}

TEST(Sweep, KilledSweepResumesWithoutLosingOrRecomputingACell) {
  TempDir tmp;
  const std::string data = tmp.path("data");
  mkdir(data.c_str(), 0755);
  gift::test_util::write_synthetic_split(data, "train", 300, 1);
  gift::test_util::write_synthetic_split(data, "t10k", 200, 2);
  const std::string config = tmp.path("c.json");
  std::ofstream(config) << small_config(data).dump();
  const std::string a = tmp.path("a"), b = tmp.path("b");
  const std::string results = a + "/results.jsonl";
  const size_t total = 2 * 3 * 2 * 3;

  // Run 1: killed with SIGKILL as soon as a few cells are on disk.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(GIFT_BINARY, GIFT_BINARY, "sweep", "--config", config.c_str(), "--out", a.c_str(),
          "--jobs", "1", "--no-figures", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::vector<std::string> before_kill;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    before_kill = lines_of(results);
    if (before_kill.size() >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFSIGNALED(st)) << "the sweep finished before it could be killed";
  before_kill = lines_of(results);  // whatever reached the disk
  ASSERT_GE(before_kill.size(), 3u);
  ASSERT_LT(before_kill.size(), total) << "the sweep finished before it could be killed";

  // Run 2: the same command resumes and finishes.
  int status = 0;
  const std::string out = run_gift("sweep --config " + config + " --out " + a + " --jobs 1 --no-figures", &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("resuming: " + std::to_string(before_kill.size()) + " of " + std::to_string(total)),
            std::string::npos)
      << out;
  const std::vector<std::string> after = lines_of(results);
  ASSERT_EQ(after.size(), total);
  for (size_t i = 0; i < before_kill.size(); ++i) EXPECT_EQ(after[i], before_kill[i]) << "line " << i;

  // A third run has nothing left to do.
  const std::string again = run_gift("sweep --config " + config + " --out " + a + " --jobs 1 --no-figures", &status);
  EXPECT_EQ(status, 0) << again;
  EXPECT_EQ(lines_of(results).size(), total);

  // An uninterrupted run with two jobs gives the same rows.
  const std::string fresh = run_gift("sweep --config " + config + " --out " + b + " --jobs 2 --no-figures", &status);
  ASSERT_EQ(status, 0) << fresh;
  EXPECT_EQ(rows_by_key(results), rows_by_key(b + "/results.jsonl"));

  // Another configuration is refused in the same directory.
  json other = small_config(data);
  other["seeds"] = {7};
  std::ofstream(tmp.path("other.json")) << other.dump();
  const std::string refused = run_gift("sweep --config " + tmp.path("other.json") + " --out " + a, &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(refused.find("another configuration"), std::string::npos) << refused;
}

}  // namespace
}  // namespace gift::experiment

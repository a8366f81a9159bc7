// End-to-end tests of `gift frontier` (the built binary, GIFT_BINARY) on a tiny synthetic data
// set: a run writes its rows and table and resumes, every bad option is one `gift: error:` line
// naming it, and a refused run leaves nothing behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../experiment/experiment_test_util.h"
#include "../test_util.h"
#include "cli_test_util.h"

namespace gift {
namespace {

namespace fs = std::filesystem;
using experiment::test_util::lines_of;
using nlohmann::json;
using test::read_text;
using test::TempDir;
using test_util::Outcome;
using test_util::quote;

// Two checkpoints trained once for every test: the start at additive noise 0.05, the oracle at
// 1.0, a 16-12-10 network on 4 x 4 synthetic images.
class FrontierCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir;
    fs::create_directory(tmp_->path("run"));
    experiment::test_util::write_tiny_data(tmp_->path("data"));
    for (const char* noise : {"0.05", "1"}) {
      const std::string out = tmp_->path(std::string("m") + noise + ".safetensors");
      const Outcome r = run("train --data-dir " + quote(tmp_->path("data")) +
                            " --arch 16-12-10 --batch-size 20 --lr 0.02 --epochs 4 --threads 1 "
                            "--noise-sum-add " +
                            std::string(noise) + " --out " + quote(out));
      ASSERT_EQ(r.status, 0) << r.out << r.err;
    }
  }
  static void TearDownTestSuite() { delete tmp_; }

  static Outcome run(const std::string& args) {
    return test_util::run_gift("cd " + quote(tmp_->path("run")) + " && ", args,
                               tmp_->path("stdout.txt"), tmp_->path("stderr.txt"));
  }

  // A small frontier of 2 rungs x 3 methods (calibration 20 x 4 passes, 100 lab images).
  // `extra` is "--option value" (or a flag): it replaces the option's default here, if any.
  static std::string args(const std::string& out, const std::string& extra = "") {
    std::vector<std::pair<std::string, std::string>> opts = {
        {"--checkpoint", quote(tmp_->path("m0.05.safetensors"))},
        {"--oracle", quote(tmp_->path("m1.safetensors"))},
        {"--data-dir", quote(tmp_->path("data"))},
        {"--device-noise-sum-add", "1"},
        {"--ladder", "100:300,1000:500"},
        {"--calib-size", "100"},
        {"--calib-inputs", "20"},
        {"--calib-repeats", "4"},
        {"--eval-repeats", "2"},
        {"--threads", "1"},
        {"--out", quote(out)}};
    std::string tail;
    if (!extra.empty()) {
      const std::string name = extra.substr(0, extra.find(' '));
      const auto it =
          std::find_if(opts.begin(), opts.end(), [&](const auto& o) { return o.first == name; });
      if (it != opts.end()) opts.erase(it);
      tail = " " + extra;
    }
    std::string a = "frontier";
    for (const auto& [name, value] : opts) a += " " + name + " " + value;
    return a + tail;
  }

  std::string out_dir(const std::string& name) const { return tmp_->path("run/" + name); }

  // Expects a one-line `gift: error:` naming `part`, exit status `status`, and no output made.
  void expect_error(const std::string& extra, const std::string& part, int status = 1) const {
    SCOPED_TRACE(extra);
    const std::string out = out_dir("refused");
    const Outcome r = run(args(out, extra));
    EXPECT_EQ(r.status, status) << r.out << r.err;
    EXPECT_EQ(r.err.rfind("gift: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out)) << "a refused frontier created " << out;
  }

  static TempDir* tmp_;
};
TempDir* FrontierCli::tmp_ = nullptr;

TEST_F(FrontierCli, RunsWritesTheTableAndResumes) {
  const std::string out = out_dir("f");
  Outcome r = run(args(out, "--no-figures"));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("[7/7]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| gift | 100 | 300 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote " + out + "/frontier.md"), std::string::npos) << r.out;
  const std::vector<std::string> rows = lines_of(out + "/frontier.jsonl");
  ASSERT_EQ(rows.size(), 7u);
  for (const std::string& line : rows) {
    const json j = json::parse(line);
    if (j["method"] == "none") continue;
    EXPECT_LE(j["sample_gradients"].get<uint64_t>(), j["budget_gradients"].get<uint64_t>()) << line;
    EXPECT_LE(j["device_passes"].get<uint64_t>(), j["budget_passes"].get<uint64_t>()) << line;
  }
  EXPECT_FALSE(fs::exists(out + "/frontier-gradients.png"));
  const json record = json::parse(read_text(out + "/config.json"));
  EXPECT_EQ(record["frontier"]["ladder"].size(), 2u);
  EXPECT_EQ(record["frontier"]["dataset"], "mnist");  // the checkpoint's

  // The same command again finishes nothing new and rewrites the table (here with figures).
  r = run(args(out));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("resuming: 7 of 7 cells"), std::string::npos) << r.out;
  EXPECT_EQ(lines_of(out + "/frontier.jsonl"), rows);
  if (r.err.find("gnuplot not found") == std::string::npos) {
    EXPECT_EQ(r.err, "");
    EXPECT_GT(fs::file_size(out + "/frontier-gradients.png"), 0u);
    EXPECT_GT(fs::file_size(out + "/frontier-passes.svg"), 0u);
  }

  // Other options on the same directory: refused, nothing changed.
  r = run(args(out, "--seeds 1,2"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("another configuration"), std::string::npos) << r.err;
  EXPECT_EQ(lines_of(out + "/frontier.jsonl"), rows);
}

TEST_F(FrontierCli, BadOptionsAreOneLineErrors) {
  expect_error("--ladder 100", "--ladder");
  expect_error("--ladder 100:1", "100:1");  // below what the methods spend on calibration
  expect_error("--ladder 0:300", "--ladder");
  expect_error("--ladder 100:300,100:300", "twice");
  expect_error("--seeds 1,1", "--seeds");
  expect_error("--seeds one", "--seeds");
  expect_error("--method none", "--method");
  expect_error("--method magic", "--method");
  expect_error("--method gift,gift", "--method");
  expect_error("--no-taps", "hil");
  expect_error("--ladder 100:1 --no-taps --method gift,diff,retrain", "100:1");
  expect_error("--eval-repeats 1", "--eval-repeats");
  expect_error("--calib-size 1", "--calib-size");
  expect_error("--calib-inputs 200", "--calib-inputs");
  expect_error("--calib-repeats 1", "--calib-repeats");
  expect_error("--holdout 1", "--holdout");
  expect_error("--lr 0", "--lr");
  expect_error("--accept-z -1", "--accept-z");
  expect_error("--batch-size 0", "--batch-size");
  expect_error("--epochs -1", "--epochs");
  expect_error("--score-repeats 0", "--score-repeats");
  expect_error("--checks -1", "--checks");
  expect_error("--fit-data everything", "--fit-data");
  expect_error("--score vibes", "--score");
  expect_error("--optimizer rmsprop", "--optimizer");  // the fine-tuning flags gift finetune takes
  expect_error("--schedule sometimes", "--schedule");
  expect_error("--no-rescale=maybe", "--no-rescale", 2);
  expect_error("--test-limit 100", "100 test images");
  expect_error("--device-noise-weight 1,2,3", "--device-noise-weight");
  expect_error("--device-command 'true'", "--device-command");
  expect_error("--device-timeout 5", "--device-timeout");
  expect_error("--threads 100000", "--threads", 2);
  expect_error("--device-seed -1", "--device-seed", 2);
  expect_error("--lr fast", "--lr", 2);
  {
    const Outcome r =
        run("frontier --checkpoint " + quote(tmp_->path("m0.05.safetensors")) + " --out x");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("--oracle"), std::string::npos) << r.err;
  }
  {
    const Outcome r = run("frontier --checkpoint " + quote(tmp_->path("m0.05.safetensors")) +
                          " --oracle missing.safetensors --out " + quote(out_dir("refused")));
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err.rfind("gift: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("missing.safetensors"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out_dir("refused")));
  }
}

TEST_F(FrontierCli, IsListedInTheHelp) {
  const Outcome r = run("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("frontier"), std::string::npos) << r.out;
  const Outcome h = run("frontier --help");
  EXPECT_EQ(h.status, 0);
  for (const char* opt : {"--ladder", "--seeds", "--method", "--device-noise-sum-add", "--out",
                          "--schedule", "--no-rescale", "--optimizer"}) {
    EXPECT_NE(h.out.find(opt), std::string::npos) << opt;
  }
}

}  // namespace
}  // namespace gift

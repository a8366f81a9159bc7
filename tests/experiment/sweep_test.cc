// gift sweep: configuration parsing, and a sweep killed with SIGKILL mid-run resumes
// without losing or recomputing a finished cell, ending with the same rows as an
// uninterrupted run with another number of jobs.
#include "gift/experiment/sweep.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "../cli/cli_test_util.h"
#include "../data/idx_test_util.h"
#include "../test_util.h"
#include "experiment_test_util.h"
#include "gift/core/error.h"
#include "gift/data/dataset.h"
#include "gift/data/idx.h"
#include "gift/experiment/report.h"
#include "gift/io/checkpoint.h"

namespace gift::experiment {
namespace {

using data::test_util::make_idx;
using nlohmann::json;
using test::TempDir;
using test::write_bytes;
using test_util::files_under;
using test_util::lines_of;
using test_util::write_tiny_data;

json small_config(const std::string& data_dir) {
  return test_util::small_sweep_config(data_dir, 2);
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
    j.erase("seconds");
    EXPECT_TRUE(rows.emplace(j.at("key").get<std::string>(), j).second) << "duplicate " << l;
  }
  return rows;
}

TEST(SweepConfig, ParsesAndRoundTrips) {
  EXPECT_NO_THROW(reproduce_preset(true, "mnist"));
  EXPECT_NO_THROW(reproduce_preset(false, "fashion-mnist"));
  const SweepConfig c = SweepConfig::from_json(small_config("/d"), "c.json");
  EXPECT_EQ(c.grids.size(), 1u);
  EXPECT_EQ(c.grids[0].name, "sum_add");
  EXPECT_EQ(c.grids[0].truth.size(), 3u);
  EXPECT_EQ(c.finetune.epochs, 3);
  EXPECT_EQ(c.calib_size, 100u);
  const SweepConfig back = SweepConfig::from_json(c.to_json(), "back");
  EXPECT_EQ(back.to_json(), c.to_json());
  json combined = small_config("/d");
  combined["grids"] = json::parse(
      R"([{"name": "both", "pattern": {"sum_add": 1.0, "weight": 0.2}, "assumed": [0.1], "true": [1]}])");
  const SweepConfig cc = SweepConfig::from_json(combined, "c.json");
  EXPECT_DOUBLE_EQ(cc.grids[0].pattern.layers[1].weight, 0.2);
}

// The tunables (gift's rescale step, calibration's fits) in the finetune block: absent from an
// older config (the defaults, so it still resumes), read and written back when set, and a bad
// value refused naming the key.
TEST(SweepConfig, FinetuneTunablesRoundTripAndDefaultWhenAbsent) {
  const SweepConfig plain = SweepConfig::from_json(small_config("/d"), "c.json");
  EXPECT_FALSE(plain.to_json().at("finetune").contains("rescale_points"));
  EXPECT_FALSE(plain.to_json().at("finetune").contains("calib_irls_floor"));
  EXPECT_EQ(plain.finetune.rescale_images, FinetuneOptions{}.rescale_images);
  json j = small_config("/d");
  j["finetune"]["rescale_points"] = 3;
  j["finetune"]["rescale_threshold"] = 1.5;
  j["finetune"]["calib_irls_iterations"] = 4;
  j["finetune"]["calib_output_max_scale"] = 1e3;
  const SweepConfig c = SweepConfig::from_json(j, "c.json");
  EXPECT_EQ(c.finetune.rescale_points, 3);
  EXPECT_EQ(c.finetune.rescale_threshold, 1.5);
  EXPECT_EQ(c.finetune.calibration.irls_iterations, 4);
  EXPECT_EQ(c.finetune.calibration.output_max_scale, 1e3);
  const json ft = c.to_json().at("finetune");
  EXPECT_EQ(ft.at("rescale_points"), 3);
  EXPECT_FALSE(ft.contains("rescale_repeats"));
  EXPECT_EQ(SweepConfig::from_json(c.to_json(), "back").to_json(), c.to_json());
  json b = small_config("/d");
  b["finetune"]["rescale_points"] = 0;
  EXPECT_INPUT_ERROR(SweepConfig::from_json(b, "c.json"), "rescale_points");
}

// The optimizer, schedule and rescale step of fine-tuning are part of a study's config: read,
// and written back only where they differ from the defaults (so an older config.json, which
// lacks the keys, still equals a new one and its directory resumes).
TEST(SweepConfig, FinetuneOptimizerScheduleAndRescaleRoundTrip) {
  const SweepConfig plain = SweepConfig::from_json(small_config("/d"), "c.json");
  const json plain_ft = plain.to_json().at("finetune");
  EXPECT_FALSE(plain_ft.contains("optimizer"));
  EXPECT_FALSE(plain_ft.contains("schedule"));
  EXPECT_FALSE(plain_ft.contains("rescale"));
  json j = small_config("/d");
  j["finetune"]["optimizer"] = "sgd";
  j["finetune"]["schedule"] = "constant";
  j["finetune"]["rescale"] = false;
  const SweepConfig c = SweepConfig::from_json(j, "c.json");
  EXPECT_EQ(c.finetune.optimizer.kind, OptimizerKind::kSgd);
  EXPECT_EQ(c.finetune.schedule, LrSchedule::kConstant);
  EXPECT_FALSE(c.finetune.rescale);
  const json ft = c.to_json().at("finetune");
  EXPECT_EQ(ft.at("optimizer"), "sgd");
  EXPECT_EQ(ft.at("schedule"), "constant");
  EXPECT_EQ(ft.at("rescale"), false);
  EXPECT_EQ(SweepConfig::from_json(c.to_json(), "back").to_json(), c.to_json());
  EXPECT_NE(c.to_json(), plain.to_json());
  for (const auto& [key, bad] : std::vector<std::pair<std::string, json>>{
           {"optimizer", "adamw"}, {"schedule", "linear"}, {"rescale", 1}}) {
    json b = small_config("/d");
    b["finetune"][key] = bad;
    EXPECT_INPUT_ERROR(SweepConfig::from_json(b, "c.json"), "c.json", key);
  }
}

// Every rejection is an InputError on one line naming the file and `part` (the key).
void expect_refused(const json& j, const std::string& part) {
  SCOPED_TRACE(j.dump().substr(0, 300));
  EXPECT_INPUT_ERROR(SweepConfig::from_json(j, "c.json"), "c.json", part);
}

void expect_refused_patch(const char* patch, const std::string& part) {
  json j = small_config("/d");
  j.merge_patch(json::parse(patch));
  expect_refused(j, part);
}

// The weight bank's static errors are part of a study's device: read, written back only when
// set (an older config.json, without them, still equals a new one and its directory resumes).
TEST(SweepConfig, WeightBankErrorsRoundTripAndOlderDevicesKeepTheirText) {
  const SweepConfig plain = SweepConfig::from_json(small_config("/d"), "c.json");
  const json dev = plain.to_json().at("device");
  EXPECT_EQ(dev, json({{"gain_std", plain.imperfections.gain_std},
                       {"weight_bits", plain.imperfections.weight_bits}}));
  json j = small_config("/d");
  j["device"] = {{"gain_std", 0.01},   {"row_gain_std", 0.02}, {"col_gain_std", 0.03},
                 {"crosstalk", 0.005}, {"weight_bits", 6},     {"dac", "fixed"}};
  const SweepConfig c = SweepConfig::from_json(j, "c.json");
  EXPECT_DOUBLE_EQ(c.imperfections.row_gain_std, 0.02);
  EXPECT_DOUBLE_EQ(c.imperfections.col_gain_std, 0.03);
  EXPECT_DOUBLE_EQ(c.imperfections.crosstalk, 0.005);
  EXPECT_EQ(c.imperfections.dac, DacScale::kFixed);
  EXPECT_EQ(c.to_json().at("device"), j["device"]);
  expect_refused_patch(R"({"device": {"crosstalk": 0.5}})", "crosstalk");
  expect_refused_patch(R"({"device": {"row_gain_std": -1}})", "row_gain_std");
  expect_refused_patch(R"({"device": {"dac": "mid"}})", "mid");
}

TEST(SweepConfig, RejectsBadConfigs) {
  expect_refused_patch(R"({"colour": "red"})", "colour");
  expect_refused_patch(R"({"grids": []})", "grids");
  expect_refused_patch(R"({"grids": [{"site": "sum_add", "assumed": [-1], "true": [1]}]})",
                       "assumed");
  expect_refused_patch(R"({"grids": [{"site": "nowhere", "assumed": [1], "true": [1]}]})",
                       "nowhere");
  expect_refused_patch(R"({"grids": [{"site": "sum_add", "assumed": [1]}]})", "true");
  expect_refused_patch(R"({"train": {"epochs": "ten"}})", "epochs");
  expect_refused_patch(R"({"methods": ["magic"]})", "magic");
  expect_refused_patch(R"({"finetune": {"epoch": 5}})", "epoch");  // a typo is not silently ignored
  expect_refused_patch(R"({"train": {"epoch": 5}})", "epoch");
  expect_refused_patch(R"({"device": {"gain": 0.1}})", "gain");
  expect_refused_patch(R"({"finetune": {"calib_size": -1}})", "calib_size");  // would wrap
  expect_refused_patch(R"({"seeds": [1, -2]})", "seeds");
}

// A value of the wrong type is an InputError naming the key (never "internal error").
TEST(SweepConfig, TypeMismatchesNameTheKey) {
  expect_refused_patch(R"({"grids": [{"site": 5, "assumed": [1], "true": [1]}]})", "'site'");
  expect_refused_patch(
      R"({"grids": [{"name": 5, "site": "sum_add", "assumed": [1], "true": [1]}]})", "'name'");
  expect_refused_patch(R"({"grids": [{"site": "sum_add", "assumed": 1, "true": [1]}]})",
                       "'assumed'");
  expect_refused_patch(R"({"grids": [{"site": "sum_add", "assumed": ["1"], "true": [1]}]})",
                       "'assumed'");
  expect_refused_patch(
      R"({"grids": [{"name": "p", "pattern": {"weight": "x"}, "assumed": [1], "true": [1]}]})",
      "pattern.weight");
  expect_refused_patch(
      R"({"grids": [{"name": "p", "pattern": {"weight": [1, 2, 3]}, "assumed": [1], "true": [1]}]})",
      "pattern.weight");
  expect_refused_patch(
      R"({"grids": [{"name": "p", "pattern": {"sum_add": -1}, "assumed": [1], "true": [1]}]})",
      "pattern.sum_add");
  expect_refused_patch(R"({"grids": [{"name": "p", "pattern": [1], "assumed": [1], "true": [1]}]})",
                       "pattern");
  expect_refused_patch(R"({"grids": {"site": "sum_add"}})", "'grids'");
  expect_refused_patch(R"({"grids": [5]})", "grid");
  expect_refused_patch(R"({"dataset": 5})", "'dataset'");
  expect_refused_patch(R"({"data_dir": ["d"]})", "'data_dir'");
  expect_refused_patch(R"({"arch": 784})", "'arch'");
  expect_refused_patch(R"({"activation": true})", "'activation'");
  expect_refused_patch(R"({"w_max": "1"})", "'w_max'");
  expect_refused_patch(R"({"methods": "gift"})", "'methods'");
  expect_refused_patch(R"({"methods": [5]})", "'methods'");
  expect_refused_patch(R"({"seeds": 1})", "'seeds'");
  expect_refused_patch(R"({"seeds": ["1"]})", "'seeds'");
  expect_refused_patch(R"({"finetune": {"score": 1}})", "'score'");
  expect_refused_patch(R"({"finetune": {"lr": "fast"}})", "'lr'");
  expect_refused_patch(R"({"train": 5})", "train");
  expect_refused_patch(R"({"finetune": []})", "finetune");
  expect_refused_patch(R"({"device": {"weight_bits": 4294967299}})", "weight_bits");  // not 3
  expect_refused_patch(R"({"device": {"weight_bits": 2.5}})", "weight_bits");
}

// Integers must be integers in range: no truncation of 2.5, no 1e30 becoming 0, no wrap of -1.
TEST(SweepConfig, IntegersAreExactAndInRange) {
  expect_refused_patch(R"({"seeds": [1e30]})", "'seeds'");
  expect_refused_patch(R"({"seeds": [2.5]})", "'seeds'");
  expect_refused_patch(R"({"seeds": [-1]})", "'seeds'");
  expect_refused_patch(R"({"seeds": [18446744073709551616]})", "'seeds'");  // 2^64, a float
  expect_refused_patch(R"({"train": {"epochs": 2.5}})", "'epochs'");
  expect_refused_patch(R"({"train": {"epochs": 10000000000}})", "'epochs'");
  expect_refused_patch(R"({"train": {"epochs": 0}})", "'epochs'");
  expect_refused_patch(R"({"train": {"batch_size": 0}})", "'batch_size'");
  expect_refused_patch(R"({"train": {"limit": 2.5}})", "'limit'");
  expect_refused_patch(R"({"test_limit": -1})", "'test_limit'");
  expect_refused_patch(R"({"eval_repeats": 1})", "'eval_repeats'");
  expect_refused_patch(R"({"eval_repeats": 1e9})", "'eval_repeats'");
  expect_refused_patch(R"({"finetune": {"epochs": -1}})", "'epochs'");
  expect_refused_patch(R"({"finetune": {"retrain_epochs": 1e12}})", "'retrain_epochs'");
  expect_refused_patch(R"({"finetune": {"score_repeats": 0}})", "'score_repeats'");
  expect_refused_patch(R"({"finetune": {"calib_size": 0}})", "'calib_size'");
  expect_refused_patch(R"({"finetune": {"calib_inputs": 101}})", "calib_inputs");  // > calib_size
  expect_refused_patch(R"({"finetune": {"calib_repeats": 3.5}})", "'calib_repeats'");
  // An integral float is an integer.
  json j = small_config("/d");
  j["seeds"] = {2.0, 1e3, 18446744073709551615u};
  j["train"]["epochs"] = 3.0;
  const SweepConfig c = SweepConfig::from_json(j, "c.json");
  EXPECT_EQ(c.seeds, (std::vector<uint64_t>{2, 1000, 18446744073709551615u}));
  EXPECT_EQ(c.train_epochs, 3);
}

TEST(SweepConfig, NumbersAreFiniteAndInRange) {
  expect_refused_patch(R"({"w_max": 0})", "'w_max'");
  expect_refused_patch(R"({"w_max": -1})", "'w_max'");
  expect_refused_patch(R"({"train": {"lr": 0}})", "'lr'");
  expect_refused_patch(R"({"train": {"lr": 5000}})", "train");  // the optimizer's range
  expect_refused_patch(R"({"finetune": {"lr": -0.1}})", "'lr'");
  expect_refused_patch(R"({"finetune": {"holdout": 1}})", "holdout");
  expect_refused_patch(R"({"finetune": {"holdout": 0}})", "'holdout'");
  expect_refused_patch(R"({"finetune": {"holdout": 0.999}})", "holdout");  // nothing left to fit
  expect_refused_patch(R"({"finetune": {"accept_z": -1}})", "'accept_z'");
  expect_refused_patch(R"({"device": {"gain_std": -0.1}})", "gain_std");
  // JSON has no NaN or inf (1e400 is refused by the parser), but a config built in code may.
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  SweepConfig c = SweepConfig::from_json(small_config("/d"), "c.json");
  for (double bad : {inf, nan, -0.5}) {
    SweepConfig d = c;
    d.grids[0].truth.push_back(bad);
    EXPECT_INPUT_ERROR(d.validate(), "'true'");
    d = c;
    d.train_lr = bad;
    EXPECT_INPUT_ERROR(d.validate(), "train", "lr");
    d = c;
    d.finetune.holdout = bad;
    EXPECT_INPUT_ERROR(d.validate(), "finetune", "holdout");
  }
  // A level times the pattern must stay finite.
  expect_refused_patch(
      R"({"grids": [{"name": "p", "pattern": {"sum_add": 1e300}, "assumed": [1e300], "true": [1]}]})",
      "level 1e+300");
}

TEST(SweepConfig, RefusesDuplicatesAndBadNames) {
  expect_refused_patch(R"({"grids": [{"site": "sum_add", "assumed": [0.1, 0.1], "true": [1]}]})",
                       "twice");
  expect_refused_patch(R"({"grids": [{"site": "sum_add", "assumed": [0, -0.0], "true": [1]}]})",
                       "twice");  // one label, "0"
  expect_refused_patch(R"({"seeds": [1, 2, 1]})", "twice");
  expect_refused_patch(R"({"methods": ["gift", "gift"]})", "twice");
  expect_refused_patch(
      R"({"grids": [{"name": "a/b", "site": "sum_add", "assumed": [1], "true": [1]}]})", "a/b");
  expect_refused_patch(
      R"({"grids": [{"name": "a|b", "site": "sum_add", "assumed": [1], "true": [1]}]})", "a|b");
  expect_refused_patch(
      R"({"grids": [{"site": "sum_add", "assumed": [1], "true": [1]}, {"site": "sum_add", "assumed": [2], "true": [1]}]})",
      "duplicate grid name");
  expect_refused_patch(
      R"({"grids": [{"name": "x", "site": "sum_add", "pattern": {"weight": 1}, "assumed": [1], "true": [1]}]})",
      "both");
  json j = small_config("/d");
  j["grids"][0]["name"] = std::string(65, 'a');
  expect_refused(j, "grid name");
}

// The size of the grid is a product, checked before anything is enumerated.
TEST(SweepConfig, RefusesAGridOverTheLimits) {
  json j = small_config("/d");
  json levels = json::array();
  for (int i = 0; i < 10000; ++i) levels.push_back(i);
  j["grids"] = {{{"site", "sum_add"}, {"assumed", levels}, {"true", levels}}};
  j["seeds"] = json::array();
  for (int i = 0; i < 100; ++i) j["seeds"].push_back(i);
  // 10^4 x 10^4 x 100 x 3 methods.
  expect_refused(j, "30000000000 cells");
  expect_refused(j, std::to_string(kMaxSweepCells));
  // Within the cell limit, over the network limit: 10001 true levels, one seed, one method.
  j["grids"][0]["assumed"] = {0};
  j["grids"][0]["true"] = levels;
  j["grids"][0]["true"].push_back(10000);
  j["seeds"] = {1};
  j["methods"] = {"none"};
  expect_refused(j, "10001 networks");
  j["grids"][0]["true"].erase(10000);
  j["grids"][0]["true"].erase(9999);
  EXPECT_NO_THROW(SweepConfig::from_json(j, "c.json"));
}

// ---------------------------------------------------------------- run_sweep in process

namespace fs = std::filesystem;

// A tiny synthetic data set (4x4 images, 300 training and 200 test images) and small_config.
class SweepRun : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = tmp_.path("data");
    write_tiny_data(data_);
  }
  SweepConfig config(const char* patch = "{}") const {
    json j = small_config(data_);
    j.merge_patch(json::parse(patch));
    return SweepConfig::from_json(j, "c.json");
  }
  TempDir tmp_;
  std::string data_;
};

// A fresh clone has no out/: the sweep directory is made with its parents.
TEST_F(SweepRun, CreatesTheDirectoryWithItsParents) {
  const std::string dir = tmp_.path("out/a/b");
  const SweepSummary s = run_sweep(config(), dir, 1, {}, 1);
  EXPECT_EQ(s.cells_run, 1u);
  EXPECT_EQ(lines_of(dir + "/results.jsonl").size(), 1u);
  EXPECT_TRUE(fs::is_regular_file(dir + "/config.json"));
}

// Whatever can be checked is checked before the first file is created.
TEST_F(SweepRun, ACheckThatFailsCreatesNothing) {
  const std::string out = tmp_.path("out");
  const std::string dir = out + "/sweep";
  const auto refused = [&](const SweepConfig& c, std::initializer_list<std::string> parts) {
    SCOPED_TRACE(c.to_json().dump());
    test::expect_input_error([&] { run_sweep(c, dir, 1); }, parts);
    EXPECT_FALSE(fs::exists(out)) << "a refused sweep created " << out;
  };
  SweepConfig c = config();
  c.data_dir = tmp_.path("nowhere");
  refused(c, {"nowhere"});

  const std::string wide = tmp_.path("wide");
  write_tiny_data(wide, 5);
  c = config();
  c.data_dir = wide;
  refused(c, {"16 inputs", "25 pixels", "5x5"});

  const std::string mixed = tmp_.path("mixed");  // training 4x4, test 5x5
  mkdir(mixed.c_str(), 0755);
  gift::test_util::write_synthetic_split(mixed, "train", 300, 1, 4);
  gift::test_util::write_synthetic_split(mixed, "t10k", 200, 2, 5);
  c = config();
  c.data_dir = mixed;
  refused(c, {"test images", "25 pixels"});

  refused(config(R"({"arch": "16-12-5"})"), {"5 outputs", "10 classes"});
  // The lab's images are drawn from the test split (200 images), leaving some to judge on.
  refused(config(R"({"finetune": {"calib_size": 200}})"), {"calib_size 200", "200 test images"});
  refused(config(R"({"test_limit": 100})"), {"calib_size 100", "100 test images"});

  // A file where a directory is expected.
  const std::string file = tmp_.path("file");
  std::ofstream(file) << "x";
  EXPECT_INPUT_ERROR(run_sweep(config(), file + "/sweep", 1), file);
  EXPECT_INPUT_ERROR(run_sweep(config(), file, 1), file, "not a directory");
  EXPECT_EQ(test::read_text(file), "x");
}

// A path too long for the model files: the first failure after the directory is created.
std::string long_dir(const std::string& base) {
  const size_t want = 4064;  // config.json and results.jsonl fit in PATH_MAX, models/... do not
  std::string dir = base;
  while (dir.size() < want)
    dir += "/" + std::string(std::min<size_t>(200, want - dir.size() - 1), 'd');
  return dir;
}

TEST_F(SweepRun, AFailedFirstRunRemovesWhatItCreated) {
  const std::string top = tmp_.path("out");
  const std::string dir = long_dir(top);
  EXPECT_INPUT_ERROR(run_sweep(config(), dir, 1), "models");
  EXPECT_FALSE(fs::exists(top));
}

TEST_F(SweepRun, AFailedRunKeepsWhatItDidNotCreate) {
  const std::string top = tmp_.path("out");
  const std::string dir = long_dir(top);
  fs::create_directories(dir);
  std::ofstream(dir + "/notes.txt") << "mine";
  EXPECT_INPUT_ERROR(run_sweep(config(), dir, 1), "models");
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.insert(e.path().filename());
  EXPECT_EQ(left, std::set<std::string>{"notes.txt"});
}

// The sweep resumes with the reader `gift report` uses (parse_results), with one policy:
// blank lines are skipped, a partial last line is dropped, any other bad line is an error
// naming the file and line.
TEST_F(SweepRun, ResumeReadsResultsLikeTheReport) {
  const std::string dir = tmp_.path("s");
  const std::string results = dir + "/results.jsonl";
  run_sweep(config(), dir, 1, {}, 2);
  const std::vector<std::string> rows = lines_of(results);
  ASSERT_EQ(rows.size(), 2u);
  const std::string cut = rows[1].substr(0, rows[1].size() / 2);
  test::write_text(results, rows[0] + "\n \t\r\n" + rows[1] + "\n" + cut);
  EXPECT_EQ(read_results(results).size(), 2u);
  const SweepSummary s = run_sweep(config(), dir, 1, {}, 1);
  EXPECT_EQ(s.cells_skipped, 2u);
  EXPECT_EQ(s.cells_run, 1u);
  const std::string text = test::read_text(results);
  EXPECT_EQ(text.find(cut + "{"), std::string::npos) << "the partial line was not dropped";
  const std::vector<StudyRow> got = read_results(results);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].key, json::parse(rows[0])["key"]);
  EXPECT_EQ(got[1].key, json::parse(rows[1])["key"]);

  // A malformed middle line: both refuse it with the same message.
  test::write_text(results, rows[0] + "\n{\"key\": 1}\n" + rows[1] + "\n");
  const std::string by_sweep = test::input_error_message([&] { run_sweep(config(), dir, 1); });
  const std::string by_report = test::input_error_message([&] { read_results(results); });
  EXPECT_NE(by_sweep.find("results.jsonl' line 2"), std::string::npos) << by_sweep;
  EXPECT_EQ(by_sweep, by_report);
}

// plan_cells and run_cell are what a distributed backend needs: the cells in the order the sweep
// runs them, and for one cell, given its networks and data, the row the sweep writes for it
// (wall time aside).
TEST_F(SweepRun, RunCellReturnsTheRowTheSweepWrites) {
  const SweepConfig c = config();
  const std::vector<SweepCell> cells = plan_cells(c);
  ASSERT_EQ(cells.size(), 36u);  // 2 assumed x 3 true x 2 seeds x 3 methods
  EXPECT_EQ(cells[0].key, sweep_cell_key("sum_add", 0.05, 0.05, 1, "none"));
  EXPECT_EQ(cells[1].key, sweep_cell_key("sum_add", 0.05, 0.05, 1, "gift"));
  EXPECT_EQ(cells[3].key, sweep_cell_key("sum_add", 0.05, 0.05, 2, "none"));
  EXPECT_EQ(cells[6].key, sweep_cell_key("sum_add", 0.05, 0.5, 1, "none"));
  const std::string dir = tmp_.path("s");
  run_sweep(c, dir, 1, {}, 2);
  const std::vector<StudyRow> rows = read_results(dir + "/results.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  const SweepCell& cell = cells[1];
  const data::Dataset train = data::load_dataset("mnist", data_, data::Split::kTrain);
  const data::Dataset test = data::load_dataset("mnist", data_, data::Split::kTest);
  const LabSplit lab = lab_split({test.images, test.labels}, c.calib_size, cell.seed);
  const Network start =
      io::load_checkpoint(sweep_model_path(dir, "sum_add", cell.assumed, cell.seed)).net;
  const Network oracle =
      io::load_checkpoint(sweep_model_path(dir, "sum_add", cell.truth, cell.seed)).net;
  json got = row_to_json(run_cell(c, cell, start, oracle, lab, {train.images, train.labels}));
  json want = row_to_json(rows[1]);
  got.erase("digital_seconds");
  got.erase("seconds");
  want.erase("digital_seconds");
  want.erase("seconds");
  EXPECT_EQ(got, want);
}

TEST(Sweep, KilledSweepResumesWithoutLosingOrRecomputingACell) {
  TempDir tmp;
  const std::string data = tmp.path("data");
  write_tiny_data(data);
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
    execl(GIFT_BINARY, GIFT_BINARY, "sweep", "--study", config.c_str(), "--out", a.c_str(),
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
  const std::string out =
      run_gift("sweep --study " + config + " --out " + a + " --jobs 1 --no-figures", &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(
      out.find("resuming: " + std::to_string(before_kill.size()) + " of " + std::to_string(total)),
      std::string::npos)
      << out;
  const std::vector<std::string> after = lines_of(results);
  ASSERT_EQ(after.size(), total);
  for (size_t i = 0; i < before_kill.size(); ++i)
    EXPECT_EQ(after[i], before_kill[i]) << "line " << i;

  // A third run has nothing left to do.
  const std::string again =
      run_gift("sweep --study " + config + " --out " + a + " --jobs 1 --no-figures", &status);
  EXPECT_EQ(status, 0) << again;
  EXPECT_EQ(lines_of(results).size(), total);

  // An uninterrupted run with two jobs gives the same rows.
  const std::string fresh =
      run_gift("sweep --study " + config + " --out " + b + " --jobs 2 --no-figures", &status);
  ASSERT_EQ(status, 0) << fresh;
  EXPECT_EQ(rows_by_key(results), rows_by_key(b + "/results.jsonl"));

  // Another configuration is refused in the same directory.
  json other = small_config(data);
  other["seeds"] = {7};
  std::ofstream(tmp.path("other.json")) << other.dump();
  const std::string refused =
      run_gift("sweep --study " + tmp.path("other.json") + " --out " + a, &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(refused.find("another configuration"), std::string::npos) << refused;
}

}  // namespace
}  // namespace gift::experiment

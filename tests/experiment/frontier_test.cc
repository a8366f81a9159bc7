// The cost-recovery frontier: ladders and configs (strict JSON, validation), the accounting of a
// tiny end-to-end frontier (no cell spends more than its rung allows), resuming without
// recomputing a cell, checks before any file is made, the table and the figures, and the case a
// finished sweep hands to `gift reproduce`. Accuracies are never asserted: the methods are being
// tuned; only their accounting and the bookkeeping are.
#include "gift/experiment/frontier.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "../cli/cli_test_util.h"
#include "../test_util.h"
#include "experiment_test_util.h"
#include "gift/core/error.h"
#include "gift/data/dataset.h"
#include "gift/insitu/simulated_device.h"
#include "gift/io/checkpoint.h"
#include "gift/train/trainer.h"

namespace gift::experiment {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::TempDir;
using test_util::lines_of;
using test_util::write_tiny_data;

// ------------------------------------------------------------------ ladders and configs

TEST(FrontierLadder, ParsesAndPrints) {
  const std::vector<Rung> l = parse_ladder("1000:3000,30000:5000", "--ladder");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[1].gradients, 30000u);
  EXPECT_EQ(l[1].passes, 5000u);
  EXPECT_EQ(ladder_text(l), "1000:3000,30000:5000");
  EXPECT_EQ(parse_ladder(ladder_text(default_ladder()), "x"), default_ladder());
  EXPECT_EQ(quick_ladder().size(), 3u);
  for (const char* bad : {"", "1000", "1000:", ":3000", "1000:3000,", "0:3000", "1000:0", "-1:3000",
                          "1e3:3000", "1000:3000,1000:3000", "a:b", "99999999999999999999:1"}) {
    SCOPED_TRACE(bad);
    EXPECT_INPUT_ERROR(parse_ladder(bad, "--ladder"), "--ladder");
  }
}

TEST(FrontierConfig, DefaultsAreValidAndRoundTrip) {
  const FrontierConfig d;
  EXPECT_NO_THROW(d.validate());
  EXPECT_EQ(d.cells(), 1u + 3u * 6u);

  FrontierConfig c;
  c.checkpoint = "a.safetensors";
  c.oracle = "o.safetensors";
  c.dataset = "fashion-mnist";
  c.data_dir = "/d";
  c.train_limit = 500;
  c.test_limit = 200;
  c.device_noise = NoiseModel::uniform(3, NoiseSite::kSumAdd, 2.0);
  c.device_noise.layers[1].weight = 0.1;
  c.device_noise.output_clip = 4;
  c.imperfections.gain_std = 0.02;
  c.imperfections.weight_bits = 6;
  c.imperfections.row_gain_std = 0.03;
  c.imperfections.col_gain_std = 0.01;
  c.imperfections.crosstalk = 0.005;
  c.imperfections.dac = DacScale::kFixed;
  c.device_seed = 77;
  c.taps = false;
  c.methods = {"retrain", "gift"};
  c.ladder = {{500, 4000}, {100000, 10000}};
  c.seeds = {3, 1};
  c.finetune.epochs = 7;
  c.finetune.fit_data = FitData::kCalibration;
  c.finetune.score_by = ScoreBy::kLoss;
  c.calib_size = 500;
  c.eval_repeats = 3;
  const FrontierConfig back = FrontierConfig::from_json(c.to_json(), "c.json");
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(back.ladder, c.ladder);
  EXPECT_EQ(back.device_noise.layers.size(), 3u);
  EXPECT_DOUBLE_EQ(back.device_noise.layers[1].weight, 0.1);
  EXPECT_FALSE(back.taps);
  EXPECT_DOUBLE_EQ(back.imperfections.row_gain_std, 0.03);
  EXPECT_DOUBLE_EQ(back.imperfections.col_gain_std, 0.01);
  EXPECT_DOUBLE_EQ(back.imperfections.crosstalk, 0.005);
  EXPECT_EQ(back.imperfections.dac, DacScale::kFixed);
  EXPECT_EQ(back.finetune.fit_data, FitData::kCalibration);
  // An ideal device (no layers) round-trips too, and a minimal config takes every default.
  EXPECT_EQ(FrontierConfig::from_json(FrontierConfig().to_json(), "d").to_json(), d.to_json());
  EXPECT_EQ(FrontierConfig::from_json(json::object(), "d").to_json(), d.to_json());
}

void expect_refused(const char* patch, std::initializer_list<std::string> parts) {
  json j = FrontierConfig().to_json();
  j.merge_patch(json::parse(patch));
  SCOPED_TRACE(patch);
  test::expect_input_error([&] { FrontierConfig::from_json(j, "c.json"); }, parts);
}

TEST(FrontierConfig, RefusesBadConfigs) {
  expect_refused(R"({"colour": 1})", {"c.json", "colour"});
  expect_refused(R"({"device": {"gain": 0.1}})", {"gain"});
  expect_refused(R"({"device": {"taps": 1}})", {"taps"});
  expect_refused(R"({"device": {"crosstalk": 0.7}})", {"device", "crosstalk"});
  expect_refused(R"({"device": {"dac": "fixed", "weight_bits": 1}})", {"weight_bits", "fixed"});
  expect_refused(R"({"device": {"taps": false}})", {"hil", "taps"});
  for (const auto& [noise, part] : std::vector<std::pair<const char*, const char*>>{
           {R"({"sum_add": [1, 1], "weight": [1]})", "sum_add"},
           {R"({"sum_add": 1})", "sum_add"},
           {R"({"sum_add": [-1]})", "noise"},
           {R"({"loud": [1]})", "loud"}}) {
    json j = FrontierConfig().to_json();
    j["device"]["noise"] = json::parse(noise);
    SCOPED_TRACE(noise);
    EXPECT_INPUT_ERROR(FrontierConfig::from_json(j, "c.json"), part);
  }
  expect_refused(R"({"finetune": {"budget_gradients": 5}})", {"budget_gradients"});  // per rung
  expect_refused(R"({"finetune": {"epoch": 5}})", {"epoch"});
  expect_refused(R"({"finetune": {"calib_inputs": 2000}})", {"calib_inputs"});
  expect_refused(R"({"methods": ["none"]})", {"none"});
  expect_refused(R"({"methods": ["magic"]})", {"magic"});
  expect_refused(R"({"methods": ["gift", "gift"]})", {"gift", "twice"});
  expect_refused(R"({"methods": []})", {"methods"});
  expect_refused(R"({"ladder": []})", {"ladder"});
  expect_refused(R"({"ladder": [[1000, 3000]]})", {"ladder"});
  expect_refused(R"({"ladder": [{"gradients": 1000}]})", {"ladder"});
  expect_refused(R"({"ladder": [{"gradients": 0, "passes": 3000}]})", {"gradients"});
  expect_refused(R"({"ladder": [{"gradients": 1000, "passes": 3000, "x": 1}]})", {"'x'"});
  expect_refused(
      R"({"ladder": [{"gradients": 1, "passes": 3000}, {"gradients": 1, "passes": 3000}]})",
      {"twice"});
  expect_refused(R"({"seeds": [1, 1]})", {"seed", "twice"});
  expect_refused(R"({"seeds": [-1]})", {"seeds"});
  expect_refused(R"({"eval_repeats": 1})", {"eval_repeats"});
  expect_refused(R"({"dataset": "cifar"})", {"cifar"});
}

// ------------------------------------------------------------------ a tiny case

// 4 x 4 synthetic images (16 inputs, 10 classes), a 16-12-10 network trained at additive noise
// 0.05 (the start) and one trained at 1.0 (the oracle), a device at 1.0. The calibration is
// small (20 inputs x 4 passes; 100 of the 200 test images are the lab's), so that every rung
// covers what the methods spend on calibration and scoring.
class FrontierRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir;
    const std::string data = tmp_->path("data");
    write_tiny_data(data);
    const data::Dataset set = data::load_dataset("mnist", data, data::Split::kTrain);
    const Architecture arch = Architecture::from_string("16-12-10", Activation::kRelu, 1.0);
    case_ = new FrontierCase;
    case_->assumed = NoiseModel::uniform(2, NoiseSite::kSumAdd, 0.05);
    for (Network* net : {&case_->start, &case_->oracle}) {
      *net = Network(arch);
      net->init(5);
      TrainOptions t;
      t.epochs = 6;
      t.batch_size = 20;
      t.optimizer.lr = 0.02;
      t.threads = 1;
      t.noise =
          net == &case_->start ? case_->assumed : NoiseModel::uniform(2, NoiseSite::kSumAdd, 1.0);
      TrainState s;
      gift::train(*net, set.images, set.labels, t, s);
    }
  }
  static void TearDownTestSuite() {
    delete case_;
    delete tmp_;
  }
  FrontierConfig config() const {
    FrontierConfig c;
    c.data_dir = tmp_->path("data");
    c.device_noise = NoiseModel::uniform(2, NoiseSite::kSumAdd, 1.0);
    c.device_seed = 3;
    c.ladder = {{100, 300}, {1000, 500}};
    c.calib_size = 100;
    c.finetune.calibration.inputs = 20;
    c.finetune.calibration.repeats = 4;
    c.finetune.epochs = 5;
    c.eval_repeats = 2;
    c.threads = 1;
    return c;
  }
  std::string dir(const std::string& name) const { return work_.path(name); }

  static TempDir* tmp_;
  static FrontierCase* case_;
  TempDir work_;
};
TempDir* FrontierRun::tmp_ = nullptr;
FrontierCase* FrontierRun::case_ = nullptr;

// A pass budget below what a method spends on calibration and scoring is refused by the method
// itself; the frontier asks every method before it creates anything, naming the rung.
TEST_F(FrontierRun, ARungAMethodRefusesIsRefusedBeforeAnyFile) {
  FrontierConfig c = config();
  c.ladder = {{1000, 500}, {100, 1}};
  test::expect_input_error([&] { run_frontier(c, *case_, dir("out/f")); },
                           {"method gift", "100:1", "fixed cost"});
  EXPECT_FALSE(fs::exists(dir("out")));
  c.methods = {"hil"};
  test::expect_input_error([&] { run_frontier(c, *case_, dir("out/f")); }, {"method hil", "100:1"});
  EXPECT_FALSE(fs::exists(dir("out")));
}

TEST_F(FrontierRun, EveryCellSpendsWithinItsRung) {
  const FrontierConfig c = config();
  std::vector<std::string> log;
  FrontierCallbacks cb;
  cb.log = [&](const std::string& line) { log.push_back(line); };
  const FrontierSummary s = run_frontier(c, *case_, dir("f"), cb);
  EXPECT_EQ(s.cells_total, 7u);
  EXPECT_EQ(s.cells_run, 7u);
  EXPECT_EQ(log.size(), 7u);
  const std::vector<StudyRow> rows = parse_results(test::read_text(dir("f/frontier.jsonl")), "f");
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[0].method, "none");
  EXPECT_EQ(rows[0].sample_gradients + rows[0].device_passes, 0u);
  std::set<std::string> cells;
  for (const StudyRow& r : rows) {
    SCOPED_TRACE(r.key);
    cells.insert(r.key);
    EXPECT_EQ(r.dataset, "mnist");
    EXPECT_EQ(r.acc_before, rows[0].acc_before);  // every cell starts from the start
    EXPECT_EQ(r.acc_oracle, rows[0].acc_oracle);
    if (r.method == "none") continue;
    EXPECT_LE(r.sample_gradients, r.budget.gradients);
    EXPECT_LE(r.device_passes, r.budget.passes);
    EXPECT_GT(r.device_passes, 20u * 4u);  // calibration and scores
    EXPECT_GT(r.device_programmings, 0u);
  }
  EXPECT_EQ(cells.size(), 7u);
  EXPECT_TRUE(cells.count(frontier_cell(1, "hil", Rung{1000, 500}).key));
  EXPECT_TRUE(cells.count("|0|0|1|hil|1000|500"));  // study_key of a frontier cell

  // The table: the start, a row per method and rung, the oracle.
  const std::vector<std::string> written = write_frontier_report(dir("f"), false);
  EXPECT_EQ(written, std::vector<std::string>{dir("f/frontier.md")});
  const std::string md = test::read_text(dir("f/frontier.md"));
  EXPECT_NE(md.find("| start (none) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| oracle |"), std::string::npos) << md;
  EXPECT_NE(md.find("| gift | 100 | 300 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| retrain | 1,000 | 500 |"), std::string::npos) << md;
  EXPECT_NE(md.find("trained at sum_add=0.05"), std::string::npos) << md;
  EXPECT_FALSE(fs::exists(dir("f/frontier-gradients.png")));

  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot not installed: figures not checked";
  write_frontier_report(dir("f"), true);
  for (const char* f : {"frontier-gradients.png", "frontier-gradients.svg", "frontier-passes.png",
                        "frontier-passes.svg", "frontier-gradients.dat", "frontier.gp"}) {
    SCOPED_TRACE(f);
    EXPECT_GT(fs::file_size(dir("f/") + f), 0u);
  }
  const std::string svg = test::read_text(dir("f/frontier-passes.svg"));
  EXPECT_NE(svg.find("oracle"), std::string::npos);
  EXPECT_NE(svg.find("start"), std::string::npos);
  for (const auto& e : fs::directory_iterator(dir("f"))) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  }
}

// A run stopped after three cells resumes without recomputing them, and ends with the rows of
// an uninterrupted run (the numbers do not depend on where it stopped).
TEST_F(FrontierRun, ResumesWithoutRecomputingACell) {
  const FrontierConfig c = config();
  struct Stop {};
  int seen = 0;
  FrontierCallbacks stop_after_three;
  stop_after_three.log = [&](const std::string&) {
    if (++seen == 3) throw Stop{};
  };
  EXPECT_THROW(run_frontier(c, *case_, dir("r"), stop_after_three), Stop);
  ASSERT_EQ(lines_of(dir("r/frontier.jsonl")).size(), 3u);
  // A row cut mid-write is dropped, not read.
  const std::string cut = lines_of(dir("r/frontier.jsonl"))[2].substr(0, 40);
  test::write_text(dir("r/frontier.jsonl"), test::read_text(dir("r/frontier.jsonl")) + cut);
  std::vector<std::string> log;
  FrontierCallbacks cb;
  cb.log = [&](const std::string& line) { log.push_back(line); };
  const FrontierSummary s = run_frontier(c, *case_, dir("r"), cb);
  EXPECT_EQ(s.cells_skipped, 3u);
  EXPECT_EQ(s.cells_run, 4u);
  ASSERT_FALSE(log.empty());
  EXPECT_NE(log[0].find("resuming: 3 of 7"), std::string::npos) << log[0];
  EXPECT_EQ(run_frontier(c, *case_, dir("r")).cells_run, 0u);

  run_frontier(c, *case_, dir("whole"));
  const auto numbers = [](const std::string& path) {
    std::map<std::string, json> rows;
    for (const std::string& l : lines_of(path)) {
      json j = json::parse(l);
      j.erase("seconds");  // wall times are the only fields allowed to differ
      j.erase("digital_seconds");
      EXPECT_TRUE(rows.emplace(j.at("key").get<std::string>(), j).second) << "duplicate " << l;
    }
    return rows;
  };
  EXPECT_EQ(numbers(dir("r/frontier.jsonl")), numbers(dir("whole/frontier.jsonl")));
}

TEST_F(FrontierRun, ChecksBeforeCreatingAnything) {
  const std::string out = dir("out");
  const std::string target = out + "/f";
  const auto refused = [&](const FrontierConfig& c, const FrontierCase& k,
                           std::initializer_list<std::string> parts) {
    test::expect_input_error([&] { run_frontier(c, k, target); }, parts);
    EXPECT_FALSE(fs::exists(out)) << "a refused frontier created " << out;
  };
  FrontierConfig c = config();
  c.data_dir = dir("nowhere");
  refused(c, *case_, {"nowhere"});
  c = config();
  c.calib_size = 200;
  refused(c, *case_, {"calib_size 200", "200 test images"});
  c = config();
  c.test_limit = 100;
  refused(c, *case_, {"calib_size 100", "100 test images"});
  c = config();
  c.device_noise = NoiseModel::uniform(3, NoiseSite::kSumAdd, 1.0);
  refused(c, *case_, {"device noise", "3 layers"});
  c = config();
  c.checkpoint = "a.safetensors";
  refused(c, *case_, {"checkpoint"});
  c = config();
  c.ladder = {{100, 1}};
  refused(c, *case_, {"100:1", "fixed cost"});
  FrontierCase other = *case_;
  other.oracle = Network(Architecture::from_string("16-8-10", Activation::kRelu, 1.0));
  refused(config(), other, {"oracle", "16-8-10"});
  const std::string wide = dir("wide");
  write_tiny_data(wide, 5);
  c = config();
  c.data_dir = wide;
  refused(c, *case_, {"training set", "25"});
  // Without checkpoint paths the path form refuses before reading anything.
  EXPECT_INPUT_ERROR(run_frontier(config(), target), "checkpoint");
  EXPECT_FALSE(fs::exists(out));

  // A directory made with another config (or other networks) is refused and left as it was.
  run_frontier(config(), *case_, target);
  const std::string rows = test::read_text(target + "/frontier.jsonl");
  c = config();
  c.ladder = {{100, 300}};
  EXPECT_INPUT_ERROR(run_frontier(c, *case_, target), "another configuration");
  other = *case_;
  other.oracle.params()[0] += 0.25f;
  EXPECT_INPUT_ERROR(run_frontier(config(), other, target), "other networks");
  EXPECT_EQ(test::read_text(target + "/frontier.jsonl"), rows);

  // A file where the directory should be.
  const std::string file = dir("file");
  std::ofstream(file) << "x";
  EXPECT_INPUT_ERROR(run_frontier(config(), *case_, file), file, "not a directory");
}

// A failure after the directory was made, with no finished row, removes what this run made.
TEST_F(FrontierRun, AFailedFirstRunRemovesWhatItCreated) {
  const std::string top = dir("out");
  std::string long_dir = top;  // config.json's temporary name no longer fits in PATH_MAX
  while (long_dir.size() < 4078) {
    long_dir += "/" + std::string(std::min<size_t>(200, 4078 - long_dir.size() - 1), 'd');
  }
  EXPECT_INPUT_ERROR(run_frontier(config(), *case_, long_dir), "config.json");
  EXPECT_FALSE(fs::exists(top));
}

// The path form reads gift checkpoints: the start's training noise is the twin's assumed noise
// and its data set the default.
TEST_F(FrontierRun, ReadsTheCaseFromCheckpoints) {
  for (const char* name : {"a", "o"}) {
    io::Checkpoint ck;
    ck.net = name[0] == 'a' ? case_->start : case_->oracle;
    ck.train.noise =
        name[0] == 'a' ? case_->assumed : NoiseModel::uniform(2, NoiseSite::kSumAdd, 1.0);
    ck.dataset = "mnist";
    io::save_checkpoint(dir(std::string(name) + ".safetensors"), ck);
  }
  FrontierConfig c = config();
  c.checkpoint = dir("a.safetensors");
  c.oracle = dir("o.safetensors");
  c.methods = {"gift"};
  c.ladder = {{100, 300}};
  const FrontierSummary s = run_frontier(c, dir("p"));
  EXPECT_EQ(s.cells_run, 2u);
  const json record = json::parse(test::read_text(dir("p/config.json")));
  EXPECT_EQ(record.at("frontier").at("checkpoint"), dir("a.safetensors"));
  EXPECT_DOUBLE_EQ(record.at("assumed").at("sum_add")[0].get<double>(), 0.05);
  EXPECT_EQ(record.at("start").get<std::string>().size(), 16u);
}

// ------------------------------------------------------------------ rows

TEST(FrontierRows, RoundTripAndRefuseBadRows) {
  StudyRow r;
  r.seed = 2;
  r.method = "gift";
  r.budget = {1000, 3000};
  r.key = frontier_cell(2, "gift", r.budget).key;
  EXPECT_EQ(r.key, "|0|0|2|gift|1000|3000");
  r.sample_gradients = 960;
  r.device_passes = 2800;
  r.device_programmings = 7;
  r.accepted = true;
  r.dataset = "mnist";
  r.acc_before = 0.4;
  r.acc_before_ci = {0.39, 0.41};
  r.acc_after = 0.5;
  r.acc_after_ci = {0.49, 0.51};
  r.acc_oracle = 0.9;
  r.acc_oracle_ci = {0.89, 0.91};
  r.recovery = 0.2;
  r.seconds = 1.5;
  const json j = row_to_json(r);
  EXPECT_EQ(row_to_json(row_from_json(j)), j);
  for (const char* field : {"seed", "budget_passes", "acc_after_ci", "recovery", "accepted"}) {
    json bad = j;
    bad.erase(field);
    EXPECT_INPUT_ERROR(row_from_json(bad), field);
  }
  json bad = j;
  bad["key"] = "|0|0|2|gift|1000|3001";
  EXPECT_INPUT_ERROR(row_from_json(bad), "key");
  bad = j;
  bad["acc_after"] = 1.5;
  EXPECT_INPUT_ERROR(row_from_json(bad), "acc_after");
  const std::string text = j.dump() + "\n\n" + j.dump() + "\n{\"key\"";
  EXPECT_EQ(parse_results(text, "f.jsonl").size(), 1u);  // duplicate kept once, cut dropped
  EXPECT_INPUT_ERROR(parse_results("{}\n", "f.jsonl"), "'f.jsonl' line 1");
}

// ------------------------------------------------------------------ from a sweep

TEST(FrontierOfSweep, NamesTheSweepsNetworksAndDevice) {
  const SweepConfig quick = reproduce_preset(true, "mnist");
  const FrontierConfig q = frontier_of_sweep(quick, "out/r", 0, 1, true);
  EXPECT_EQ(q.checkpoint, sweep_model_path("out/r", "sum_add", 0.1, 1));
  EXPECT_EQ(q.oracle, sweep_model_path("out/r", "sum_add", 3.0, 1));
  EXPECT_EQ(q.checkpoint, "out/r/models/sum_add-l0.1-s1.safetensors");
  EXPECT_EQ(q.device_seed, sweep_device_seed("sum_add", 3.0, 1));
  EXPECT_DOUBLE_EQ(q.device_noise.layers[2].sum_add, 3.0);
  EXPECT_EQ(q.ladder, quick_ladder());
  EXPECT_EQ(q.seeds, std::vector<uint64_t>{1});
  EXPECT_EQ(q.test_limit, quick.test_limit);
  EXPECT_EQ(q.methods, (std::vector<std::string>{"gift", "hil", "retrain"}));
  const FrontierConfig full = frontier_of_sweep(reproduce_preset(false, "mnist"), "o", 0, 1, false);
  EXPECT_EQ(full.ladder, default_ladder());
  EXPECT_EQ(full.seeds, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(full.finetune.retrain_epochs, FinetuneOptions().retrain_epochs);
}

// The networks a finished sweep trained are the case: the frontier runs on them as they are.
TEST(FrontierOfSweep, RunsOnAFinishedSweep) {
  TempDir tmp;
  const std::string data = tmp.path("data");
  write_tiny_data(data);
  json j = test_util::small_sweep_config(data, 2);
  j["grids"][0]["assumed"] = {0.05};
  j["grids"][0]["true"] = {1.0};
  j["seeds"] = {1};
  j["methods"] = {"none"};
  const SweepConfig sweep = SweepConfig::from_json(j, "sweep");
  run_sweep(sweep, tmp.path("s"), 1);
  FrontierConfig c = frontier_of_sweep(sweep, tmp.path("s"), 0, 1, true);
  c.ladder = {{200, 300}};
  c.threads = 1;
  const FrontierSummary s = run_frontier(c, tmp.path("s/frontier"));
  EXPECT_EQ(s.cells_run, 4u);
  // Its start is the sweep's cell (same networks, same chip, same evaluation).
  const std::vector<StudyRow> cell = read_results(tmp.path("s/results.jsonl"));
  const std::vector<StudyRow> rows =
      parse_results(test::read_text(tmp.path("s/frontier/frontier.jsonl")), "f");
  ASSERT_EQ(cell.size(), 1u);
  EXPECT_EQ(rows[0].acc_before, cell[0].acc_before);
  EXPECT_EQ(rows[0].acc_oracle, cell[0].acc_oracle);
}

}  // namespace
}  // namespace gift::experiment

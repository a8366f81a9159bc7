// End-to-end tests of gift calibrate and gift finetune on the built binary (cli_fixture.h).
#include <gtest/gtest.h>

#include "cli_fixture.h"

namespace gift::cli_test {
namespace {

class CliInsitu : public Cli {
 protected:
  void SetUp() override {
    Cli::SetUp();
    train_ok("model.safetensors", "--noise-sum-add 0.05", 3);
  }
  std::string model() const { return quote(in_run("model.safetensors")); }
  std::string common() const {
    return " --checkpoint " + model() + " --data-dir " + quote(data_dir()) + " --threads 1";
  }
  std::string finetune_args() const {
    return "finetune" + common() +
           " --calib-size 100 --calib-inputs 50 --epochs 3 --eval-repeats 2 --seed 3";
  }
};

TEST_F(CliInsitu, CalibratePrintsAndSavesTheEstimate) {
  const Outcome r = gift("calibrate" + common() +
                         " --device-noise-sum-add 0.5 --calib-inputs 100 --json cal.json");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("estimate:"), std::string::npos) << r.out;
  const nlohmann::json j = nlohmann::json::parse(read_text(in_run("cal.json")));
  EXPECT_TRUE(j.at("per_layer").get<bool>());
  EXPECT_EQ(j.at("device_passes").get<int>(), 1600);
  for (double v : j.at("estimate").at("sum_add")) EXPECT_NEAR(v, 0.5, 0.1) << r.out;
}

// calibrate measures on the lab's images of the test split, the ones finetune calibrates on with
// the same seed: on the same chip both find the same estimate, bit for bit.
TEST_F(CliInsitu, CalibrateUsesTheLabImagesFinetuneCalibratesOn) {
  const std::string chip = " --device-noise-sum-add 1 --device-seed 4";
  const Outcome c =
      gift("calibrate" + common() + chip + " --calib-inputs 50 --seed 3 --json cal.json");
  ASSERT_EQ(c.status, 0) << c.out << c.err;
  const Outcome f = gift(finetune_args() + chip + " --method gift --report rep.json");
  ASSERT_EQ(f.status, 0) << f.out << f.err;
  const nlohmann::json cal = nlohmann::json::parse(read_text(in_run("cal.json")));
  const nlohmann::json rep = nlohmann::json::parse(read_text(in_run("rep.json")));
  EXPECT_EQ(cal.at("estimate"), rep.at("methods")[0].at("calibration").at("estimate"));
  // Another seed draws other lab images (and bootstrap draws): another estimate.
  const Outcome o =
      gift("calibrate" + common() + chip + " --calib-inputs 50 --seed 4 --json other.json");
  ASSERT_EQ(o.status, 0) << o.out << o.err;
  EXPECT_NE(cal.at("estimate"),
            nlohmann::json::parse(read_text(in_run("other.json"))).at("estimate"));
}

TEST_F(CliInsitu, FinetuneWritesCheckpointAndReport) {
  const Outcome r =
      gift(finetune_args() +
           " --method gift --device-noise-sum-add 1 --out tuned.safetensors --report rep.json");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const nlohmann::json j = nlohmann::json::parse(read_text(in_run("rep.json")));
  ASSERT_EQ(j.at("methods").size(), 1u);
  const nlohmann::json& m = j.at("methods")[0];
  EXPECT_EQ(m.at("method"), "gift");
  EXPECT_GT(m.at("device_passes").get<long>(), 800);  // more than calibration (50 x 16)
  EXPECT_TRUE(m.contains("calibration"));
  EXPECT_TRUE(m.contains("alignment"));
  // The fine-tuned checkpoint loads and carries the report.
  const Outcome e =
      gift("eval --checkpoint tuned.safetensors --data-dir " + quote(data_dir()) + " --repeats 2");
  EXPECT_EQ(e.status, 0) << e.err;
  const io::TensorFile f = io::read_safetensors(in_run("tuned.safetensors"));
  EXPECT_EQ(f.metadata.count("finetune"), 1u);
}

TEST_F(CliInsitu, ExternalDeviceGivesTheSameResultsAsTheSimulatedOne) {
  const std::string sim =
      finetune_args() + " --method none,gift,hil --device-noise-sum-add 1 --device-seed 4";
  const std::string ext =
      finetune_args() + " --method none,gift,hil --device-command " +
      quote(std::string(GIFT_BINARY) + " device-server --checkpoint " +
            in_run("model.safetensors") + " --noise-sum-add 1 --device-seed 4 --threads 1");
  const Outcome a = gift(sim + " --report a.json"), b = gift(ext + " --report b.json");
  ASSERT_EQ(a.status, 0) << a.err;
  ASSERT_EQ(b.status, 0) << b.err;
  nlohmann::json ja = nlohmann::json::parse(read_text(in_run("a.json")));
  nlohmann::json jb = nlohmann::json::parse(read_text(in_run("b.json")));
  for (nlohmann::json* j : {&ja, &jb}) {
    for (nlohmann::json& m : j->at("methods")) {
      m.erase("digital_seconds");
      m.erase("device_seconds");
    }
  }
  EXPECT_EQ(ja.at("methods"), jb.at("methods"));
}

// --holdout is the share of the calibration set that --fit-data calib holds out; with train
// (the default) every calibration image scores, so a --holdout given there would be dropped.
TEST_F(CliInsitu, HoldoutWithoutCalibFitDataIsRefused) {
  expect_error(finetune_args() + " --method gift --holdout 0.4", {"--holdout", "--fit-data calib"});
  expect_error(finetune_args() + " --method gift --holdout 0.4 --fit-data train",
               {"--holdout", "--fit-data calib"});
}

TEST_F(CliInsitu, Errors) {
  expect_error(finetune_args() + " --method magic", {"magic"});
  expect_error(finetune_args() + " --method gift,hil --out x.safetensors", {"--out"});
  expect_error(finetune_args() + " --calib-size 0", {"--calib-size"});
  expect_error(finetune_args() + " --device-noise-sum-add -1", {"--device-noise-sum-add"});
  expect_error(finetune_args() + " --device-command 'true' --device-noise-sum-add 1",
               {"--device-command"});
  expect_error(finetune_args() + " --device-command '/nonexistent/server'", {"device"});
  expect_error("calibrate" + common() + " --calib-repeats 1", {"repeats"});
}

TEST_F(CliInsitu, FinetuneSavesEachMethodAndResumes) {
  const std::string args = finetune_args() + " --device-noise-sum-add 1 --report rep.json";
  Outcome r = gift(args + " --method none,gift");
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json full = nlohmann::json::parse(read_text(in_run("rep.json")));
  ASSERT_EQ(full.at("methods").size(), 2u);
  // As if stopped after the first method: the report then holds that method only.
  nlohmann::json partial = full;
  partial["methods"].erase(1);
  partial["methods"][0]["digital_seconds"] = 12345.0;  // marks the entry a resume must keep
  write_bytes(in_run("rep.json"), [&] {
    const std::string t = partial.dump(2);
    return std::vector<uint8_t>(t.begin(), t.end());
  }());
  r = gift(args + " --method none,gift,hil --resume");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("resuming: 1 method"), std::string::npos) << r.out;
  const nlohmann::json resumed = nlohmann::json::parse(read_text(in_run("rep.json")));
  ASSERT_EQ(resumed.at("methods").size(), 3u);
  EXPECT_EQ(resumed["methods"][0]["digital_seconds"], 12345.0) << "the finished method was rerun";
  nlohmann::json a = full["methods"][1], b = resumed["methods"][1];
  for (nlohmann::json* j : {&a, &b}) {
    j->erase("digital_seconds");
    j->erase("device_seconds");
  }
  EXPECT_EQ(a, b) << "the resumed method differs from an uninterrupted run";
  EXPECT_EQ(resumed["methods"][2]["method"], "hil");
  // A damaged report is refused, not half-read.
  nlohmann::json damaged = resumed;
  damaged["methods"][1].erase("accepted");
  write_bytes(in_run("rep.json"), [&] {
    const std::string t = damaged.dump();
    return std::vector<uint8_t>(t.begin(), t.end());
  }());
  expect_error(args + " --method none,gift,hil --resume", {"rep.json", "'gift'", "incomplete"});
  // A resume with other options refuses to mix results.
  expect_error(
      finetune_args() + " --device-noise-sum-add 2 --report rep.json --method none --resume",
      {"rep.json", "other options"});
  expect_error(finetune_args() + " --method none --resume", {"--resume", "--report"});
  expect_error(finetune_args() + " --method gift,gift", {"gift", "twice"});
}

}  // namespace
}  // namespace gift::cli_test

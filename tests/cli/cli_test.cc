// End-to-end tests of the gift command-line tool (help, version, train, eval): the built binary
// (GIFT_BINARY) is run through the shell on a tiny synthetic data set (cli_fixture.h).
#include <gtest/gtest.h>

#include "cli_fixture.h"

namespace gift::cli_test {
namespace {

// ---------------------------------------------------------------- help and version

TEST_F(Cli, HelpAndVersion) {
  Outcome r = gift("--help");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("train"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("eval"), std::string::npos) << r.out;

  r = gift("train --help");
  EXPECT_EQ(r.status, 0) << r.err;
  for (const char* opt : {"--noise-sum-add", "--noise-weight", "--output-clip", "--arch",
                          "--epochs", "--out", "--resume", "--threads", "--data-dir"}) {
    EXPECT_NE(r.out.find(opt), std::string::npos) << "train help lacks " << opt;
  }

  r = gift("eval --help");
  EXPECT_EQ(r.status, 0) << r.err;
  for (const char* opt : {"--checkpoint", "--levels", "--repeats", "--json", "--weight-bits",
                          "--noise-sum-add", "--site"}) {
    EXPECT_NE(r.out.find(opt), std::string::npos) << "eval help lacks " << opt;
  }

  r = gift("--version");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(version()), std::string::npos) << r.out;
  EXPECT_TRUE(run_files().empty());
}

TEST_F(Cli, HelpShowsDefaultsAndPlainTypes) {
  const Outcome r = gift("train --help");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("UINT"), std::string::npos) << r.out;  // was "UINT:UINT"
  EXPECT_NE(r.out.find("--train-limit N=0 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--epochs INT=10 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--lr FLOAT=0.001 "), std::string::npos) << r.out;
}

TEST_F(Cli, AnUnknownCommandNamesTheNearestOne) {
  Outcome r = gift("trian --epochs 1");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err,
            "gift: error: unknown command 'trian' (did you mean 'train'?); the commands are "
            "train, eval, calibrate, finetune, device-server, sweep, reproduce, frontier, report "
            "(gift --help)\n");
  r = gift("frobnicate");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err.rfind("gift: error: unknown command 'frobnicate'; the commands are train, ", 0),
            0u)
      << r.err;
  EXPECT_TRUE(run_files().empty());
}

// ---------------------------------------------------------------- train and eval

TEST_F(Cli, TrainThenEval) {
  const std::string ckpt = in_run("model.safetensors");
  Outcome r = gift(train_args(ckpt, 3) + " --noise-sum-add 0.1");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(count_lines(r.out, "^epoch +[0-9]+  loss [0-9.]+  train acc"), 3) << r.out;
  EXPECT_EQ(count_lines(r.out, "^epoch +3 .*-> " + ckpt + "$"), 1) << r.out;
  EXPECT_NE(r.out.find("noise sum_add=0.1"), std::string::npos) << r.out;
  const double clean = percent_after(r.out, "test accuracy, noiseless:");
  EXPECT_GT(clean, 60) << r.out;  // chance is 10%
  EXPECT_GE(percent_after(r.out, "test accuracy, at training noise:"), 0) << r.out;
  EXPECT_EQ(run_files(), std::set<std::string>{"model.safetensors"});

  const io::Checkpoint c = io::load_checkpoint(ckpt);
  EXPECT_EQ(c.state.epochs_done, 3);
  EXPECT_EQ(c.net.arch().sizes, (std::vector<int>{16, 12, 10}));
  EXPECT_EQ(c.train.noise.layers.at(1).sum_add, 0.1);
  EXPECT_EQ(c.dataset, "mnist");

  r = gift("eval --checkpoint model.safetensors --data-dir " + quote(data_dir()) +
           " --levels 0.1,1 --repeats 3 --threads 1 --json out.json");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("evaluation noise"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("200 images"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out, "^noiseless +[0-9.]+%"), 1) << r.out;
  EXPECT_EQ(count_lines(r.out, "^trained: sum_add=0.1 +[0-9.]+%"), 1) << r.out;
  EXPECT_EQ(count_lines(r.out, "^sum_add=0.1 +[0-9.]+%"), 1) << r.out;
  EXPECT_EQ(count_lines(r.out, "^sum_add=1 +[0-9.]+%"), 1) << r.out;
  EXPECT_NE(r.out.find("wrote out.json"), std::string::npos) << r.out;
  EXPECT_EQ(run_files(), (std::set<std::string>{"model.safetensors", "out.json"}));

  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(read_text(in_run("out.json"))));
  EXPECT_EQ(doc.at("checkpoint"), "model.safetensors");
  EXPECT_EQ(doc.at("test_images"), kTest);
  const nlohmann::json& rows = doc.at("rows");
  ASSERT_EQ(rows.size(), 4u) << rows.dump();
  EXPECT_EQ(rows[0].at("label"), "noiseless");
  EXPECT_EQ(rows[1].at("label"), "trained: sum_add=0.1");
  EXPECT_EQ(rows[2].at("noise").at("sum_add"), nlohmann::json({0.1, 0.1}));
  EXPECT_EQ(rows[3].at("noise").at("sum_add"), nlohmann::json({1.0, 1.0}));
  EXPECT_EQ(rows[0].at("accuracy").get<double>() * 100, clean);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_EQ(rows[i].at("draws"), 3) << i;
  for (const nlohmann::json& row : rows) {
    const double acc = row.at("accuracy").get<double>();
    EXPECT_GE(acc, 0);
    EXPECT_LE(acc, 1);
    EXPECT_LE(row.at("ci95")[0].get<double>(), acc);
    EXPECT_GE(row.at("ci95")[1].get<double>(), acc);
  }
  // Noise this large (std 1 on every sum) must cost accuracy.
  EXPECT_LT(rows[3].at("accuracy").get<double>(), rows[0].at("accuracy").get<double>());
}

TEST_F(Cli, PerLayerNoiseList) {
  train_ok("a.safetensors", "--noise-sum-add 0.1,0.2 --noise-weight 0,0.05 --output-clip 3", 1);
  const io::Checkpoint c = io::load_checkpoint(in_run("a.safetensors"));
  EXPECT_EQ(c.train.noise.layers.at(0).sum_add, 0.1);
  EXPECT_EQ(c.train.noise.layers.at(1).sum_add, 0.2);
  EXPECT_EQ(c.train.noise.layers.at(0).weight, 0);
  EXPECT_EQ(c.train.noise.layers.at(1).weight, 0.05);
  EXPECT_EQ(c.train.noise.output_clip, 3);
}

TEST_F(Cli, ThreadCountDoesNotChangeTheCheckpoint) {
  train_ok("t1.safetensors", "--noise-sum-add 0.1 --noise-weight 0.05", 2, 1);
  train_ok("t2.safetensors", "--noise-sum-add 0.1 --noise-weight 0.05", 2, 2);
  const std::vector<uint8_t> a = read_bytes(in_run("t1.safetensors"));
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, read_bytes(in_run("t2.safetensors")));
}

TEST_F(Cli, ResumeOfACompleteRunDoesNothing) {
  train_ok("a.safetensors", "--noise-sum-add 0.1", 4);
  train_ok("b.safetensors", "--noise-sum-add 0.1", 4);
  const std::vector<uint8_t> a = read_bytes(in_run("a.safetensors"));
  EXPECT_EQ(a, read_bytes(in_run("b.safetensors"))) << "two equal runs differ";

  const auto mtime = fs::last_write_time(in_run("b.safetensors"));
  const Outcome r = gift(train_args(in_run("b.safetensors"), 4) + " --noise-sum-add 0.1 --resume");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("resuming"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nothing to do"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out, "^epoch "), 0) << r.out;
  EXPECT_NE(r.out.find("test accuracy, noiseless:"), std::string::npos) << r.out;
  EXPECT_EQ(read_bytes(in_run("b.safetensors")), a);
  EXPECT_EQ(fs::last_write_time(in_run("b.safetensors")), mtime) << "the checkpoint was rewritten";
  EXPECT_EQ(run_files(), (std::set<std::string>{"a.safetensors", "b.safetensors"}));
}

TEST_F(Cli, ResumeWithoutACheckpointStartsFresh) {
  train_ok("a.safetensors", "--noise-sum-add 0.1", 2);
  train_ok("b.safetensors", "--noise-sum-add 0.1 --resume", 2);
  EXPECT_EQ(read_bytes(in_run("a.safetensors")), read_bytes(in_run("b.safetensors")));
}

// The schedule depends on --epochs, so this run need not equal a 4-epoch run; it must continue
// from epoch 2 and end with 4 epochs done.
TEST_F(Cli, ResumeContinuesToMoreEpochs) {
  train_ok("a.safetensors", "", 2);
  const Outcome r = gift(train_args(in_run("a.safetensors"), 4) + " --resume");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("resuming " + in_run("a.safetensors") + " at epoch 2 of 4"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(count_lines(r.out, "^epoch +[34]  loss"), 2) << r.out;
  EXPECT_EQ(count_lines(r.out, "^epoch +[12]  loss"), 0) << r.out;
  const io::Checkpoint c = io::load_checkpoint(in_run("a.safetensors"));
  EXPECT_EQ(c.state.epochs_done, 4);
  EXPECT_EQ(c.train.epochs, 4);
  EXPECT_GT(c.state.optimizer.step, 0);
}

// Training with w_max 0.1 saturates weights at float(0.1) > 0.1; eval must accept the result.
TEST_F(Cli, WeightsSaturatedAtWmaxReload) {
  train_ok("w.safetensors", "--w-max 0.1", 2);
  const io::Checkpoint c = io::load_checkpoint(in_run("w.safetensors"));
  ASSERT_EQ(c.net.weight(0).cwiseAbs().maxCoeff(), 0.1f) << "no weight reached the bound";
  const Outcome r = gift("eval --checkpoint w.safetensors --data-dir " + quote(data_dir()) +
                         " --repeats 1 --threads 1");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
}

// ---------------------------------------------------------------- errors

TEST_F(Cli, TrainOptionErrors) {
  const std::string out = in_run("model.safetensors");
  expect_error(train_args(out, 1) + " --noise-sum-add -0.1", {"--noise-sum-add", "-0.1"});
  expect_error(train_args(out, 1) + " --noise-sum-add=-0.1", {"--noise-sum-add", "-0.1"});
  expect_error(train_args(out, 1) + " --noise-sum-add 0.1,0.2,0.3", {"--noise-sum-add", "2"});
  expect_error(train_args(out, 1, "16-10") + " --noise-sum-add 0.1,0.2", {"--noise-sum-add", "1"});
  expect_error(train_args(out, 1) + " --noise-weight abc", {"--noise-weight", "abc"});
  expect_error(train_args(out, 1) + " --activation swish", {"swish"});
  expect_error(train_args(out, 1, "10-10"), {"10", "16"});
  expect_error(train_args(out, 1, "16-x-10"), {"16-x-10"});
  expect_error("train --data-dir " + quote(data_dir()) + " --arch 16-12-10 --batch-size 0 --out " +
                   quote(out),
               {"batch size"});
  expect_error(train_args(out, 1) + " --optimizer rmsprop", {"rmsprop"});
  expect_error(train_args(out, 1) + " --bogus", {"--bogus"});
  expect_error("train --data-dir " + quote(data_dir()) + " --arch 16-12-10", {"--out"});
  expect_error("", {"subcommand"});
  expect_error("frobnicate", {"unknown command 'frobnicate'"});
}

TEST_F(Cli, TrainDataErrors) {
  const std::string out = in_run("model.safetensors");
  const std::string missing = tmp_.path("no-such-dir");
  expect_error("train --data-dir " + quote(missing) + " --arch 16-12-10 --out " + quote(out),
               {missing});

  const std::string images = data_dir() + "/train-images-idx3-ubyte";
  const std::vector<uint8_t> good = read_bytes(images);
  write_bytes(images, std::vector<uint8_t>(good.begin(), good.end() - 5));
  expect_error(train_args(out, 1), {images});
  write_bytes(images, std::vector<uint8_t>(good.begin(), good.begin() + 10));
  expect_error(train_args(out, 1), {images});

  std::vector<uint8_t> bad_magic = good;
  bad_magic[0] = 0x01;
  write_bytes(images, bad_magic);
  expect_error(train_args(out, 1), {images, "magic"});
  write_bytes(images, good);

  // A label out of range in the test split: training data are fine, but nothing may be written.
  const std::string labels = data_dir() + "/t10k-labels-idx1-ubyte";
  std::vector<uint8_t> bad_labels = read_bytes(labels);
  bad_labels.back() = 10;
  write_bytes(labels, bad_labels);
  expect_error(train_args(out, 1), {labels, "10"});
}

class CliEval : public Cli {
 protected:
  void SetUp() override {
    Cli::SetUp();
    train_ok("model.safetensors", "--noise-sum-add 0.1", 1);
  }
  std::string eval_args(const std::string& ckpt) const {
    return "eval --checkpoint " + quote(ckpt) + " --data-dir " + quote(data_dir()) +
           " --repeats 2 --threads 1 --json out.json";
  }
};

TEST_F(CliEval, Errors) {
  const std::string good = in_run("model.safetensors");
  expect_error(eval_args(in_run("missing.safetensors")), {"missing.safetensors"});
  expect_error(eval_args(good) + " --repeats 0", {"repeats"});
  expect_error(eval_args(good) + " --weight-bits 40", {"weight_bits", "40"});
  expect_error(eval_args(good) + " --gain-std -1", {"gain_std"});
  expect_error(eval_args(good) + " --levels 0.1,x", {"--levels"});
  expect_error(eval_args(good) + " --levels 0.1 --site everywhere", {"everywhere"});
  expect_error(eval_args(good) + " --noise-sum-add 0.1,0.2,0.3", {"--noise-sum-add"});
  expect_error(eval_args(good) + " --bogus", {"--bogus"});
  expect_error("eval --data-dir " + quote(data_dir()), {"--checkpoint"});
  const std::string nowhere = tmp_.path("nowhere");
  expect_error("eval --checkpoint " + quote(good) + " --data-dir " + quote(nowhere), {nowhere});
}

// The weight bank's static errors (row and column gains, crosstalk, a fixed DAC) are accepted,
// reach the JSON output through their one writer, and bad values are refused naming the field.
TEST_F(CliEval, AcceptsTheStaticErrorsOfTheWeightBank) {
  const std::string good = in_run("model.safetensors");
  const Outcome r = gift(eval_args(good) +
                         " --row-gain-std 0.02 --col-gain-std 0.03 --crosstalk 0.005"
                         " --weight-bits 6 --dac fixed --device-seed 3");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("with static imperfections"), std::string::npos) << r.out;
  const nlohmann::json doc = nlohmann::json::parse(read_text(in_run("out.json")));
  const nlohmann::json& imp = doc.at("imperfections");
  EXPECT_DOUBLE_EQ(imp.at("row_gain_std").get<double>(), 0.02);
  EXPECT_DOUBLE_EQ(imp.at("col_gain_std").get<double>(), 0.03);
  EXPECT_DOUBLE_EQ(imp.at("crosstalk").get<double>(), 0.005);
  EXPECT_EQ(imp.at("dac"), "fixed");
  EXPECT_EQ(imp.at("weight_bits"), 6);
  expect_error(eval_args(good) + " --row-gain-std -0.1", {"row_gain_std", "-0.1"});
  expect_error(eval_args(good) + " --col-gain-std -1", {"col_gain_std"});
  expect_error(eval_args(good) + " --crosstalk 0.5", {"crosstalk", "0.5"});
  expect_error(eval_args(good) + " --dac mid", {"--dac", "mid"});
  expect_error(eval_args(good) + " --dac fixed --weight-bits 1", {"weight_bits", "fixed"});
}

TEST_F(CliEval, CheckpointWithNaN) {
  const std::string bad = in_run("nan.safetensors");
  io::TensorFile f = io::read_safetensors(in_run("model.safetensors"));
  f.tensors.at("layers.1.weight").values.at(5) = std::nan("");
  io::write_safetensors(bad, f);
  expect_error(eval_args(bad), {bad, "layers.1.weight", "non-finite"});
}

// A level so large that float32 overflows (1e300 is not a float; 1e38 is, but its noisy sums
// are not) gives one error naming the row and its flag, never an accuracy made of NaN. A huge
// level that stays finite (1e30) is a real measurement: chance accuracy, exit 0.
TEST_F(CliEval, LevelsThatOverflowAreAnErrorNamingTheLevel) {
  const std::string good = in_run("model.safetensors");
  expect_error(eval_args(good) + " --levels 1e300",
               {"row 'sum_add=1e+300' (--levels 1e+300)", "hold NaN or inf", "overflowed float32"});
  expect_error(eval_args(good) + " --levels 0.1,1e38 --site out_add",
               {"row 'out_add=1e+38' (--levels 1e+38)", "overflowed float32"});
  expect_error(eval_args(good) + " --noise-sum-add 1e300", {"the --noise-* options", "sum_add"});
  const Outcome r = gift(eval_args(good) + " --levels 1e30");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json rows = nlohmann::json::parse(read_text(in_run("out.json"))).at("rows");
  const double acc = rows.back().at("accuracy").get<double>();
  EXPECT_EQ(rows.back().at("label"), "sum_add=1e+30");
  EXPECT_TRUE(std::isfinite(rows.back().at("loss").get<double>()));
  EXPECT_LT(acc, 0.4);  // the noise drowns the signal (chance is 0.1)
}

// --output-clip is the chip's saturation: it applies to every row, with or without a noise
// option, the --levels rows included (it was dropped without a noise option, and the --levels
// rows took the checkpoint's clip).
TEST_F(CliEval, OutputClipAppliesToEveryRow) {
  const std::string good = in_run("model.safetensors");
  const auto rows_of = [&](const std::string& extra) {
    const Outcome r = gift(eval_args(good) + extra);
    EXPECT_EQ(r.status, 0) << r.err;
    return nlohmann::json::parse(read_text(in_run("out.json"))).at("rows");
  };
  const nlohmann::json plain = rows_of(" --levels 0.2");
  for (const std::string& extra :
       {std::string(" --levels 0.2 --output-clip 0.05"),
        std::string(" --levels 0.2 --output-clip 0.05 --noise-weight 0.01")}) {
    SCOPED_TRACE(extra);
    const nlohmann::json clipped = rows_of(extra);
    ASSERT_GE(clipped.size(), 3u);
    for (const nlohmann::json& row : clipped) {
      EXPECT_EQ(row.at("noise").at("output_clip").get<double>(), 0.05) << row.dump();
    }
    EXPECT_EQ(clipped.front().at("label"), "noiseless, clip=0.05");
    // Applied, not only recorded: the clean and --levels accuracies change.
    EXPECT_NE(clipped.front().at("loss"), plain.front().at("loss"));
    EXPECT_NE(clipped.back().at("loss"), plain.back().at("loss"));
  }
  EXPECT_EQ(plain.front().at("noise").at("output_clip").get<double>(), 0);
}

// Options that would be dropped in silence are refused: --site without --levels, --device-seed
// without a static error to seed.
TEST_F(CliEval, OptionsThatCannotApplyAreRefused) {
  const std::string good = in_run("model.safetensors");
  expect_error(eval_args(good) + " --site weight", {"--site", "--levels"});
  expect_error(eval_args(good) + " --device-seed 4", {"--device-seed", "--gain-std"});
  const Outcome r = gift(eval_args(good) + " --device-seed 4 --gain-std 0.01");
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(CliEval, TruncatedCheckpoint) {
  const std::vector<uint8_t> full = read_bytes(in_run("model.safetensors"));
  const std::string bad = in_run("cut.safetensors");
  for (size_t cut : {size_t{0}, size_t{5}, size_t{100}, full.size() / 2, full.size() - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    write_bytes(bad, std::vector<uint8_t>(full.begin(), full.begin() + cut));
    expect_error(eval_args(bad), {bad});
  }
}

TEST_F(CliEval, ResumeFromABadCheckpointFails) {
  const std::string bad = in_run("cut.safetensors");
  const std::vector<uint8_t> full = read_bytes(in_run("model.safetensors"));
  write_bytes(bad, std::vector<uint8_t>(full.begin(), full.begin() + full.size() / 2));
  const std::vector<uint8_t> before = read_bytes(bad);
  expect_error(train_args(bad, 2) + " --resume", {bad});
  EXPECT_EQ(read_bytes(bad), before) << "a failed resume changed its checkpoint";
}

}  // namespace
}  // namespace gift::cli_test

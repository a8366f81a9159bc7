// End-to-end tests of the gift command-line tool: the built binary (GIFT_BINARY) is run through
// the shell on a tiny synthetic data set, with stdout, stderr and the exit status captured.
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

namespace gift {
namespace {

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
int count_lines(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern);
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += std::regex_search(line, re) ? 1 : 0;
  return n;
}

// The percentage after `label` in `text` ("test accuracy, noiseless:   93.00% [...]"), or -1.
double percent_after(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + label.size()));
}

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
}  // namespace gift

namespace gift {
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

}  // namespace
}  // namespace gift

namespace gift {
namespace {

// Output options create their directories with the parents (the README writes under out/).
TEST_F(Cli, OutputDirectoriesAreCreatedWithTheirParents) {
  train_ok("out/a/model.safetensors", "--noise-sum-add 0.05", 1);
  const std::string ckpt = quote(in_run("out/a/model.safetensors"));
  Outcome r = gift("eval --checkpoint " + ckpt + " --data-dir " + quote(data_dir()) +
                   " --repeats 2 --json out/b/c/eval.json");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(in_run("out/b/c/eval.json")));
  r = gift("calibrate --checkpoint " + ckpt + " --data-dir " + quote(data_dir()) +
           " --device-noise-sum-add 0.5 --calib-inputs 20 --calib-repeats 4 --json out/d/cal.json");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(in_run("out/d/cal.json")));
  r = gift("finetune --checkpoint " + ckpt + " --data-dir " + quote(data_dir()) +
           " --method none --calib-size 50 --calib-inputs 20 --eval-repeats 2"
           " --out out/e/tuned.safetensors --report out/f/rep.json");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(in_run("out/e/tuned.safetensors")));
  EXPECT_TRUE(fs::exists(in_run("out/f/rep.json")));
}

// Long work fails before it starts when its output cannot be written.
TEST_F(Cli, OutputUnderAFileFailsBeforeTraining) {
  std::ofstream(in_run("file")) << "x";
  const Outcome r = gift(train_args(in_run("file/m.safetensors"), 50));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("not a directory"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("epoch"), std::string::npos) << "trained before failing: " << r.out;
}

TEST_F(Cli, NumericOptionsRefuseNegativeAndOutOfRangeValues) {
  const std::string out = in_run("m.safetensors");
  expect_error(train_args(out, 1) + " --seed -1", {"--seed", "non-negative integer", "-1"});
  expect_error(train_args(out, 1) + " --seed=-1", {"--seed"});
  expect_error(train_args(out, 1) + " --seed 1e30", {"--seed", "1e30"});
  expect_error(train_args(out, 1) + " --train-limit -1", {"--train-limit"});
  expect_error(train_args(out, 1) + " --test-limit 2.5", {"--test-limit"});
  expect_error(train_args(out, 1) + " --seed 99999999999999999999999", {"--seed"});
  expect_error(train_args(out, 1) + " --threads 100000", {"--threads", "100000"});
  expect_error(train_args(out, 1) + " --threads -1", {"--threads"});
  expect_error(train_args(out, 1) + " --eval-repeats 0", {"--eval-repeats"});
  expect_error("sweep --study none.json --out s --jobs 100000", {"--jobs", "100000"});
  expect_error("reproduce --quick --jobs -2", {"--jobs"});
  expect_error("finetune --checkpoint x --device-seed -3", {"--device-seed"});
  expect_error("eval --checkpoint x --threads 257", {"--threads", "257"});
}

// A network with fewer outputs than the data's classes would read past its logits.
TEST_F(Cli, FewerOutputsThanClassesIsRefusedBeforeWork) {
  expect_error(train_args(in_run("m.safetensors"), 3, "16-12-5"),
               {"label 9", "10 outputs", "has 5"});
  io::Checkpoint small;
  small.net = Network(Architecture::from_string("16-5", Activation::kRelu, 1.0));
  small.net.init(1);
  small.train.noise = NoiseModel::none(1);
  small.dataset = "mnist";
  io::save_checkpoint(in_run("small.safetensors"), small);
  const std::string common = " --checkpoint small.safetensors --data-dir " + quote(data_dir());
  expect_error("eval" + common + " --repeats 2", {"label", "has 5"});
  expect_error(
      "finetune" + common + " --method gift --calib-size 50 --calib-inputs 20 --report r.json",
      {"has 5"});
}

TEST_F(Cli, TestImagesOfAnotherShapeAreRefusedBeforeTraining) {
  test_util::write_synthetic_split(data_dir(), "t10k", kTest, 2, kSide + 1);
  const Outcome r = gift(train_args(in_run("m.safetensors"), 50));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("test set"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("25 pixels"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("epoch"), std::string::npos) << "trained before failing: " << r.out;
  EXPECT_FALSE(fs::exists(in_run("m.safetensors")));
}

// Out of memory is bad input (a size too large for this machine), reported on one line.
TEST_F(Cli, OutOfMemoryIsAOneLineError) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer reserves more address space than the limit allows";
#endif
  // 1 GiB of address space; the network alone needs 3.7 TiB, a 10^8-parameter one 0.4 GiB
  // for its weights and more for the optimizer's moments and gradients.
  for (const std::string arch : {"16-1000000-1000000-10", "16-100000-1000-10"}) {
    SCOPED_TRACE(arch);
    const Outcome r =
        gift_prefixed("ulimit -v 1048576; ", train_args(in_run("m.safetensors"), 1, arch));
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_EQ(r.err.rfind("gift: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("out of memory"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(in_run("m.safetensors")));
  }
}

// CLI11 reads --config itself: a FIFO would block it and /dev/zero would never end.
TEST_F(Cli, ConfigFileMustBeARegularFile) {
  ASSERT_EQ(mkfifo(in_run("fifo").c_str(), 0600), 0);
  for (const std::string& config : {std::string("fifo"), std::string("/dev/zero")}) {
    const Outcome r =
        gift_with_timeout("--config " + config + " " + train_args("m.safetensors", 1), 20);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("--config: '" + config + "' is not a regular file"), std::string::npos)
        << r.err;
  }
  std::ofstream(in_run("big.toml")) << std::string((1 << 20) + 1, '#');
  expect_error("--config=big.toml " + train_args("m.safetensors", 1), {"big.toml", "1 MiB"});
  std::ofstream(in_run("ok.toml")) << "[train]\nepochs = 1\nseed = 3\n";
  const Outcome r = gift("--config ok.toml " + train_args("m.safetensors", 1));
  EXPECT_EQ(r.status, 0) << r.err;
}

// --config means one thing: a TOML/INI file of options. A JSON study (the sweep's old use of the
// name) is refused with a pointer to --study instead of being read as TOML and ignored.
TEST_F(Cli, AJsonConfigPointsToStudy) {
  std::ofstream(in_run("study.json")) << "  {\"grids\": []}\n";
  const Outcome r = gift("sweep --config study.json --out sweep-out");
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("--config: 'study.json' is JSON"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--study FILE"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(in_run("sweep-out")));
}

// Every key of a --config file must be an option of its section's subcommand: a mistyped key,
// one outside its section or in another command's section, or an unknown section is an error
// naming the key and the file (CLI11 dropped them in silence and trained the default network).
TEST_F(Cli, ConfigKeysMustBeOptionsOfTheirSection) {
  const auto config = [&](const std::string& name, const std::string& text) {
    std::ofstream(in_run(name)) << text;
    return "--config " + name + " ";
  };
  const std::string train = "train --data-dir " + quote(data_dir()) + " --out m.safetensors";
  expect_error(config("top.toml", "arch = \"16-8-10\"\nepochs = 1\n") + train,
               {"--config 'top.toml'", "key 'arch' is outside any section", "[train]"});
  expect_error(
      config("typo.toml", "[train]\narch = \"16-8-10\"\nepoch = 1\n") + train,
      {"--config 'typo.toml'", "'epoch' in section [train] is not an option of gift train"});
  expect_error(config("sect.toml", "[trian]\nepochs = 1\n") + train,
               {"--config 'sect.toml'", "section [trian] names no subcommand", "'epochs'"});
  expect_error(config("other.toml", "[eval]\nepochs = 1\n") + train,
               {"'epochs' in section [eval] is not an option of gift eval"});
  // A file may hold the sections of several commands; each applies to its own.
  const std::string both = config("both.toml",
                                  "[train]\narch = \"16-8-10\"\nepochs = 1\nseed = 3\n"
                                  "[eval]\nrepeats = 2\n");
  const Outcome r = gift(both + train);
  ASSERT_EQ(r.status, 0) << r.err;
  const io::Checkpoint c = io::load_checkpoint(in_run("m.safetensors"));
  EXPECT_EQ(c.net.arch().sizes, (std::vector<int>{16, 8, 10}));
  EXPECT_EQ(c.train.epochs, 1);
}

TEST_F(Cli, ACheckpointThatIsAFifoIsRefusedWithoutHanging) {
  ASSERT_EQ(mkfifo(in_run("fifo").c_str(), 0600), 0);
  // `timeout` turns a hang into exit status 124.
  const Outcome r = gift_with_timeout(
      "eval --checkpoint fifo --data-dir " + quote(data_dir()) + " --repeats 2", 20);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
}

TEST_F(Cli, StaleTemporariesOfAKilledWriteAreRemoved) {
  train_ok("m.safetensors", "", 1);
  // A write killed with SIGKILL leaves "<out>.tmp.<pid>" of a process that no longer runs.
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  const std::string stale = in_run("m.safetensors.tmp." + std::to_string(pid));
  std::ofstream(stale) << "partial";
  train_ok("m.safetensors", "--resume", 2);
  EXPECT_FALSE(fs::exists(stale));
}

// SIGINT and SIGTERM stop training between writes: one line, exit 128 + signal, no temporary
// left, the last checkpoint whole, and --resume continues to the same result as a run that
// was never stopped.
TEST_F(Cli, SignalsStopTrainingCleanlyAndItResumes) {
  // A constant rate, so that a run of 6 epochs and the first 6 of a long run are the same.
  const std::string constant = " --lr-schedule constant";
  train_ok("reference.safetensors", constant, 6);
  for (const int sig : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(sig == SIGTERM ? "SIGTERM" : "SIGINT");
    const std::string name = sig == SIGTERM ? "term.safetensors" : "int.safetensors";
    Background run(*this, train_args(in_run(name), 100000) + constant);
    ASSERT_TRUE(run.wait_for_output("epoch   3", 60)) << run.out();
    kill(run.pid(), sig);
    const int status = run.wait(30);
    ASSERT_TRUE(WIFEXITED(status))
        << "killed by the signal instead of stopping: status " << status << " " << run.err();
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig);
    const std::string err = run.err();
    EXPECT_EQ(err.find("gift: stopped by SIG"), 1u) << err;  // after the "\n" that ends a bar
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << err;
    for (const auto& e : fs::directory_iterator(run_dir())) {
      EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
    }
    const io::Checkpoint stopped = io::load_checkpoint(in_run(name));
    EXPECT_GE(stopped.state.epochs_done, 3);
    // Resume to 6 epochs: bitwise the same network as the uninterrupted run (if the stop
    // came after epoch 6, resuming with fewer epochs does nothing and the test is moot).
    if (stopped.state.epochs_done < 6) {
      train_ok(name, "--resume" + constant, 6);
      EXPECT_EQ(read_bytes(in_run(name)), read_bytes(in_run("reference.safetensors")));
    }
  }
}

}  // namespace
}  // namespace gift

namespace gift {
namespace {

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
}  // namespace gift

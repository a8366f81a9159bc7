// End-to-end tests of what the gift binary does with bad or unusual input: output directories,
// numeric ranges, shapes, memory, config files, FIFOs, stale temporaries and signals
// (cli_fixture.h).
#include <gtest/gtest.h>

#include "cli_fixture.h"

namespace gift::cli_test {
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
}  // namespace gift::cli_test

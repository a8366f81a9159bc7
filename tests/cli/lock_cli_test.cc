// End-to-end tests of one writer per study folder and of resume keeping its word (issue 21, items 2
// and 4), on the built binary (GIFT_BINARY) and a tiny synthetic data set: two real `gift sweep`
// or `gift frontier` processes on one folder, a holder killed with SIGKILL, a frontier folder
// reached by another spelling or moved, and `gift train --resume` with the flags left out or
// conflicting.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
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
#include "gift/io/checkpoint.h"

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

constexpr const char* kLock = ".gift-lock";

// A process started in the background with stdout and stderr to one log file.
struct Child {
  pid_t pid = -1;
  std::string log;
};

Child start(const std::vector<std::string>& args, const std::string& cwd, const std::string& log) {
  Child c{fork(), log};
  if (c.pid == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(126);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv{const_cast<char*>(GIFT_BINARY)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(GIFT_BINARY, argv.data());
    _exit(127);
  }
  return c;
}

// Waits for `c`; returns its exit status (-1 if it did not exit normally).
int finish(const Child& c) {
  int st = 0;
  waitpid(c.pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Polls `ready` every 200 us for up to 60 s; returns whether it became true.
bool wait_for(const std::function<bool()>& ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// The keys of the rows of a results file, each once; a key seen twice fails the test.
std::set<std::string> keys_once(const std::string& path) {
  std::set<std::string> keys;
  for (const std::string& line : lines_of(path)) {
    const std::string key = json::parse(line).at("key").get<std::string>();
    EXPECT_TRUE(keys.insert(key).second) << "row written twice: " << key;
  }
  return keys;
}

// Whether the log `log` (stdout and stderr) ends with the refusal of a folder held by another
// process: one line, naming the holder.
void expect_in_use(const std::string& log, pid_t holder) {
  const size_t at = log.find("gift: error: ");
  ASSERT_NE(at, std::string::npos) << log;
  EXPECT_TRUE(at == 0 || log[at - 1] == '\n') << log;
  const std::string text = log.substr(at);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find("is in use by pid " + std::to_string(holder) + " on host "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("(started 20"), std::string::npos) << text;
  // The program by its name, not its folder (a build folder can be long enough to hide --out).
  EXPECT_NE(text.find("Z: gift "), std::string::npos) << text;
  EXPECT_NE(text.find(" --out "), std::string::npos) << "the holder's command: " << text;
}

class LockCli : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(tmp_.path("run"));
    experiment::test_util::write_tiny_data(data_dir());
  }
  std::string data_dir() const { return tmp_.path("data"); }
  std::string cwd() const { return tmp_.path("run"); }

  // A study of `kCells` cells; `seeds` tells two studies apart.
  std::string study(const std::string& name, const std::vector<int>& seeds) const {
    json j = experiment::test_util::small_sweep_config(data_dir(), 8);
    j["seeds"] = seeds;
    const std::string path = tmp_.path(name);
    std::ofstream(path) << j.dump();
    return path;
  }
  static constexpr size_t kCells = 36;  // 2 assumed x 3 true x 2 seeds x 3 methods

  Child sweep(const std::string& config, const std::string& out, const std::string& log) const {
    return start({"sweep", "--study", config, "--out", out, "--jobs", "1", "--no-figures"}, cwd(),
                 tmp_.path(log));
  }
  Outcome gift(const std::string& args) const {
    return test_util::run_gift("cd " + quote(cwd()) + " && ", args, tmp_.path("stdout.txt"),
                               tmp_.path("stderr.txt"));
  }

  TempDir tmp_;
};

// A second sweep on a folder in use, the same study or another, is refused at once with one line
// naming the holder, and writes nothing; the holder finishes with one row per cell. (The holder
// is stopped with SIGSTOP while the second runs, so that it is surely still running.)
TEST_F(LockCli, ASecondSweepOnAFolderInUseIsRefused) {
  const std::string a = study("a.json", {1, 2}), b = study("b.json", {3, 4});
  const std::string out = tmp_.path("s");
  const Child first = sweep(a, out, "first.log");
  ASSERT_TRUE(wait_for([&] { return lines_of(out + "/results.jsonl").size() >= 1; }))
      << read_text(first.log);
  kill(first.pid, SIGSTOP);
  for (const std::string& config : {a, b}) {
    SCOPED_TRACE(config);
    const Child second = sweep(config, out, "second.log");
    EXPECT_EQ(finish(second), 1);
    expect_in_use(read_text(second.log), first.pid);
  }
  kill(first.pid, SIGCONT);
  ASSERT_EQ(finish(first), 0) << read_text(first.log);
  EXPECT_EQ(keys_once(out + "/results.jsonl").size(), kCells);
  EXPECT_FALSE(fs::exists(out + "/" + kLock)) << "the holder leaves no lock file";
  EXPECT_EQ(json::parse(read_text(out + "/config.json"))["seeds"], json({1, 2}));
}

// Two sweeps started together on one new folder, for the same study and for two studies: one runs
// and the other is refused (in use, or another configuration once the first let go), or the
// second resumes the first's work; either way every cell of the folder's study has one row, and
// no row of the other study is there.
TEST_F(LockCli, TwoSweepsStartedTogetherWriteEachRowOnce) {
  const std::string a = study("a.json", {1, 2}), b = study("b.json", {3, 4});
  for (const bool same : {true, false}) {
    SCOPED_TRACE(same ? "same study" : "two studies");
    const std::string out = tmp_.path(same ? "same" : "two");
    const Child one = sweep(a, out, "one.log");
    const Child two = sweep(same ? a : b, out, "two.log");
    const int s1 = finish(one), s2 = finish(two);
    const std::string log1 = read_text(one.log), log2 = read_text(two.log);
    EXPECT_TRUE(s1 == 0 || s2 == 0) << log1 << log2;
    for (const auto& [status, log] : {std::pair{s1, log1}, std::pair{s2, log2}}) {
      if (status == 0) continue;
      EXPECT_EQ(status, 1) << log;
      EXPECT_TRUE(log.find("is in use by pid ") != std::string::npos ||
                  log.find("another configuration") != std::string::npos)
          << log;
    }
    const json config = json::parse(read_text(out + "/config.json"));
    const std::set<std::string> keys = keys_once(out + "/results.jsonl");
    if (keys.size() != kCells) {
      // The sweep that ran finished every cell: the other was refused, never a partial writer.
      ADD_FAILURE() << keys.size() << " rows\n" << log1 << log2;
    }
    for (const std::string& key : keys) {  // grid|assumed|true|seed|method|gradients|passes
      size_t at = 0;
      for (int bar = 0; bar < 3; ++bar) at = key.find('|', at) + 1;
      const std::string seed = key.substr(at, key.find('|', at) - at);
      const bool of_a = seed == "1" || seed == "2";
      EXPECT_EQ(of_a, config["seeds"] == json({1, 2})) << key;
    }
  }
}

// A holder killed with SIGKILL (it cannot clean up: its lock file stays) does not block the next
// run, which resumes and finishes with one row per cell.
TEST_F(LockCli, AHolderKilledWithSigkillDoesNotBlockTheNextRun) {
  const std::string a = study("a.json", {1, 2});
  const std::string out = tmp_.path("k"), results = out + "/results.jsonl";
  const Child first = sweep(a, out, "first.log");
  ASSERT_TRUE(wait_for([&] { return lines_of(results).size() >= 2; })) << read_text(first.log);
  kill(first.pid, SIGKILL);
  EXPECT_EQ(finish(first), -1);
  ASSERT_TRUE(fs::exists(out + "/" + kLock));
  ASSERT_LT(lines_of(results).size(), kCells) << "finished before it was killed";
  const Outcome r = gift("sweep --study " + quote(a) + " --out " + quote(out) + " --no-figures");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("resuming: "), std::string::npos) << r.out;
  EXPECT_EQ(keys_once(results).size(), kCells);
  EXPECT_FALSE(fs::exists(out + "/" + kLock));
}

// A refusal (here: another configuration) on a folder that exists leaves it exactly as it was.
TEST_F(LockCli, ARefusalLeavesAnExistingFolderAsItWas) {
  const std::string a = study("a.json", {1, 2}), b = study("b.json", {3, 4});
  const std::string out = tmp_.path("r");
  Outcome r =
      gift("sweep --study " + quote(a) + " --out " + quote(out) + " --max-cells 1 --no-figures");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const std::set<std::string> before = files_under(out);
  r = gift("sweep --study " + quote(b) + " --out " + quote(out) + " --no-figures");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("another configuration"), std::string::npos) << r.err;
  EXPECT_EQ(files_under(out), before);
}

// ------------------------------------------------------------------ the frontier

class LockFrontierCli : public LockCli {
 protected:
  void SetUp() override {
    LockCli::SetUp();
    for (const char* noise : {"0.05", "1"}) {
      const Outcome r = gift("train --data-dir " + quote(data_dir()) +
                             " --arch 16-12-10 --batch-size 20 --lr 0.02 --epochs 2 --threads 1 "
                             "--noise-sum-add " +
                             std::string(noise) + " --out m" + noise + ".safetensors");
      ASSERT_EQ(r.status, 0) << r.out << r.err;
    }
  }
  // A frontier of 2 rungs x 3 methods on `seeds` seeds, in `out`, started from `start`.
  std::vector<std::string> frontier(const std::string& out, const std::string& start,
                                    const std::string& seeds = "1") const {
    return {"frontier",
            "--checkpoint",
            start,
            "--oracle",
            "m1.safetensors",
            "--data-dir",
            data_dir(),
            "--device-noise-sum-add",
            "1",
            "--ladder",
            "100:300,1000:500",
            "--calib-size",
            "100",
            "--calib-inputs",
            "20",
            "--calib-repeats",
            "4",
            "--eval-repeats",
            "2",
            "--threads",
            "1",
            "--seeds",
            seeds,
            "--no-figures",
            "--out",
            out};
  }
  Outcome run(const std::vector<std::string>& args) const {
    std::string line;
    for (const std::string& a : args) line += quote(a) + " ";
    return gift(line);
  }
};

// A second frontier on a folder in use is refused naming the holder; the holder's rows are each
// written once.
TEST_F(LockFrontierCli, ASecondFrontierOnAFolderInUseIsRefused) {
  const std::string out = cwd() + "/f";
  const Child first =
      start(frontier("f", "m0.05.safetensors", "1,2,3,4"), cwd(), tmp_.path("first.log"));
  ASSERT_TRUE(wait_for([&] { return lines_of(out + "/frontier.jsonl").size() >= 1; }))
      << read_text(first.log);
  kill(first.pid, SIGSTOP);
  const Child second =
      start(frontier("./f/", "m0.05.safetensors", "1,2,3,4"), cwd(), tmp_.path("second.log"));
  EXPECT_EQ(finish(second), 1);
  expect_in_use(read_text(second.log), first.pid);
  kill(first.pid, SIGCONT);
  ASSERT_EQ(finish(first), 0) << read_text(first.log);
  EXPECT_EQ(keys_once(out + "/frontier.jsonl").size(), 4u * 7u);
  EXPECT_FALSE(fs::exists(out + "/" + kLock));
}

// f, ./f, f/ and the absolute path are one folder, and a folder copied elsewhere with its
// checkpoints resumes: the checkpoint paths are not part of its identity (the networks'
// fingerprints are). Other networks are still refused.
TEST_F(LockFrontierCli, AFolderResumesUnderAnySpellingAndWhenMoved) {
  Outcome r = run(frontier("f", "m0.05.safetensors"));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const std::vector<std::string> rows = lines_of(cwd() + "/f/frontier.jsonl");
  ASSERT_EQ(rows.size(), 7u);
  for (const std::string& spelling : {std::string("./f"), std::string("f/"), cwd() + "/f"}) {
    SCOPED_TRACE(spelling);
    r = run(frontier(spelling, "./m0.05.safetensors"));
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("(7 already done, 0 run now)"), std::string::npos) << r.out;
  }
  fs::create_directory(tmp_.path("moved"));
  fs::copy(cwd() + "/f", tmp_.path("moved/g"), fs::copy_options::recursive);
  fs::copy_file(cwd() + "/m0.05.safetensors", tmp_.path("moved/start.safetensors"));
  r = run(frontier(tmp_.path("moved/g"), tmp_.path("moved/start.safetensors")));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("(7 already done, 0 run now)"), std::string::npos) << r.out;
  EXPECT_EQ(lines_of(tmp_.path("moved/g/frontier.jsonl")), rows);

  r = run(frontier("f", "m1.safetensors"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("another configuration or other networks"), std::string::npos) << r.err;
}

// ------------------------------------------------------------------ gift train --resume

class ResumeCli : public LockCli {
 protected:
  // Trains 1 epoch of a 16-10 network on the tiny data set, called fashion-mnist, with noise.
  void SetUp() override {
    LockCli::SetUp();
    const Outcome r = gift(base() + " --dataset fashion-mnist --arch 16-10 --noise-sum-add 0.1 " +
                           "--lr 0.02 --seed 7 --epochs 1");
    ASSERT_EQ(r.status, 0) << r.out << r.err;
  }
  std::string base() const {
    return "train --data-dir " + quote(data_dir()) + " --batch-size 20 --threads 1 --out c.st";
  }
  io::Checkpoint stored() const { return io::load_checkpoint(cwd() + "/c.st"); }
  void expect_conflict(const std::string& flags, const std::string& part) const {
    SCOPED_TRACE(flags);
    const io::Checkpoint before = stored();
    const Outcome r = gift(base() + " --resume --epochs 2 " + flags);
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_EQ(r.err.rfind("gift: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
    EXPECT_EQ(stored().state.epochs_done, before.state.epochs_done) << "it trained anyway";
  }
};

// Flags left out take the checkpoint's values: the data set (not the default, mnist), the
// architecture, the noise and the training options.
TEST_F(ResumeCli, AFlagLeftOutTakesTheStoredValue) {
  const Outcome r = gift(base() + " --resume --epochs 2");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("on fashion-mnist"), std::string::npos) << r.out;
  const io::Checkpoint c = stored();
  EXPECT_EQ(c.state.epochs_done, 2);
  EXPECT_EQ(c.dataset, "fashion-mnist");
  EXPECT_EQ(c.net.arch().describe(),
            Architecture::from_string("16-10", Activation::kRelu, 1.0).describe());
  EXPECT_TRUE(c.train.noise.any());
  EXPECT_EQ(c.train.seed, 7u);
  EXPECT_DOUBLE_EQ(c.train.optimizer.lr, 0.02);
}

// The same values given again are fine; another value is an error naming the flag and both
// values, and trains nothing.
TEST_F(ResumeCli, AConflictingFlagIsAnErrorNamingBothValues) {
  expect_conflict("--dataset mnist",
                  "--dataset mnist conflicts with --resume: the checkpoint "
                  "c.st, trained on fashion-mnist");
  expect_conflict("--arch 16-12-10", "--arch (16-12-10 relu");
  expect_conflict("--w-max 2", "--w-max (16-10");
  expect_conflict("--noise-sum-add 0.3", "--noise-sum-add (noise ");
  expect_conflict("--lr 0.5",
                  "--lr 0.5 conflicts with --resume: the checkpoint c.st, trained with "
                  "--lr 0.02");
  expect_conflict("--seed 8", "--seed 8 conflicts");
  const Outcome r = gift(base() +
                         " --resume --epochs 2 --dataset fashion-mnist --arch 16-10 "
                         "--noise-sum-add 0.1 --lr 0.02 --seed 7");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(stored().state.epochs_done, 2);
}

// --epochs 0 on a new --out writes the initialised, untrained network (it used to write nothing).
TEST_F(ResumeCli, EpochsZeroWritesTheInitialisedNetwork) {
  const Outcome r = gift("train --data-dir " + quote(data_dir()) +
                         " --arch 16-10 --epochs 0 --seed 3 --threads 1 --out zero.st");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("initialised"), std::string::npos) << r.out;
  const io::Checkpoint c = io::load_checkpoint(cwd() + "/zero.st");
  EXPECT_EQ(c.state.epochs_done, 0);
  Network init(Architecture::from_string("16-10", Activation::kRelu, 1.0));
  init.init(3);
  EXPECT_EQ(c.net.params(), init.params());
}

}  // namespace
}  // namespace gift

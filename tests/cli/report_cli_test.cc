// End-to-end tests of `gift report`: the built binary (GIFT_BINARY) on a small results.jsonl.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "../experiment/experiment_test_util.h"
#include "../test_util.h"
#include "cli_test_util.h"
#include "gift/experiment/report.h"

namespace gift {
namespace {

namespace fs = std::filesystem;
using experiment::test_util::make_sweep;
using experiment::test_util::to_jsonl;
using test::read_text;
using test::TempDir;
using test::write_text;
using test_util::Outcome;
using test_util::quote;

class ReportCli : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directory(sweep()); }
  std::string sweep() const { return tmp_.path("sweep"); }

  // Runs `env gift args` with stdout and stderr captured.
  Outcome gift(const std::string& args, const std::string& env = "") const {
    return test_util::run_gift(env + " ", args, tmp_.path("stdout.txt"), tmp_.path("stderr.txt"));
  }

  std::set<std::string> sweep_files() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(sweep())) names.insert(e.path().filename());
    return names;
  }

  TempDir tmp_;
};

TEST_F(ReportCli, TablesOnly) {
  // A sweep killed mid-write: the last line has no newline and is ignored.
  write_text(sweep() + "/results.jsonl", to_jsonl(make_sweep(2)) + "{\"key\": \"sum_");
  const Outcome r = gift("report --no-figures --sweep " + quote(sweep()));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("72 finished cells, 36 rows"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rel. impr. (%)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote " + sweep() + "/table.csv\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote " + sweep() + "/table.json\n"), std::string::npos) << r.out;
  EXPECT_EQ(sweep_files(), (std::set<std::string>{"results.jsonl", "table.csv", "table.json"}));
  const std::vector<experiment::AggregateRow> agg = experiment::aggregate(make_sweep(2));
  EXPECT_EQ(read_text(sweep() + "/table.csv"), experiment::table_csv(agg));
  EXPECT_NE(r.out.find(experiment::format_table(agg)), std::string::npos) << r.out;
}

TEST_F(ReportCli, Figures) {
  if (!experiment::gnuplot_available()) GTEST_SKIP() << "gnuplot is not on the PATH";
  write_text(sweep() + "/results.jsonl", to_jsonl(make_sweep(1)));
  const Outcome r = gift("report --sweep " + quote(sweep()));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  for (const std::string name :
       {"table.csv", "table.json", "figures.gp", "fig-accuracy-sum_add-a0.1.png",
        "fig-accuracy-weight-a1.svg", "fig-heatmap-sum_add.png", "fig-heatmap-weight.svg",
        "fig-cost.png", "fig-cost.svg"}) {
    EXPECT_TRUE(fs::exists(sweep() + "/" + name)) << name;
    EXPECT_NE(r.out.find("wrote " + sweep() + "/" + name + "\n"), std::string::npos) << name;
  }
  // Every file in the directory, but the input, was reported.
  for (const std::string& name : sweep_files()) {
    if (name == "results.jsonl") continue;
    EXPECT_NE(r.out.find("wrote " + sweep() + "/" + name + "\n"), std::string::npos) << name;
  }
}

TEST_F(ReportCli, NoGnuplotIsAWarning) {
  write_text(sweep() + "/results.jsonl", to_jsonl(make_sweep(1)));
  const Outcome r = gift("report --sweep " + quote(sweep()), "PATH=" + quote(tmp_.path("empty")));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("gnuplot not found: install Debian's gnuplot-nox"), std::string::npos)
      << r.err;
  EXPECT_EQ(sweep_files(), (std::set<std::string>{"results.jsonl", "table.csv", "table.json"}));
}

// The policy of parse_results, shared with gift sweep: blank lines (empty or whitespace-only)
// are skipped, a partial last line is ignored, a bad middle line names the file and line.
TEST_F(ReportCli, BlankAndPartialLinesFollowTheSweepsPolicy) {
  const std::string rows = to_jsonl(make_sweep(1));
  const size_t second = rows.find('\n') + 1;
  write_text(sweep() + "/results.jsonl",
             "\n" + rows.substr(0, second) + " \t\r\n" + rows.substr(second) + "{\"key\": \"x");
  Outcome r = gift("report --no-figures --sweep " + quote(sweep()));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("36 finished cells"), std::string::npos) << r.out;

  write_text(sweep() + "/results.jsonl", rows.substr(0, second) + "{}\n" + rows.substr(second));
  r = gift("report --no-figures --sweep " + quote(sweep()));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("results.jsonl' line 2: field 'key'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  // Deeply nested JSON on a line is an input error, not a stack overflow.
  write_text(sweep() + "/results.jsonl",
             std::string(100000, '[') + std::string(100000, ']') + "\n");
  r = gift("report --no-figures --sweep " + quote(sweep()));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("results.jsonl' line 1: JSON nested deeper"), std::string::npos) << r.err;
}

TEST_F(ReportCli, Errors) {
  // No results.jsonl.
  Outcome r = gift("report --sweep " + quote(sweep()));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("gift: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("results.jsonl"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  // A malformed middle line.
  const std::string rows = to_jsonl(make_sweep(1));
  const size_t second = rows.find('\n') + 1;
  write_text(sweep() + "/results.jsonl",
             rows.substr(0, second) + "{\"key\": \"x\", \"grid\": 3}\n" + rows.substr(second));
  r = gift("report --no-figures --sweep " + quote(sweep()));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("results.jsonl' line 2: field 'grid'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(sweep_files(), (std::set<std::string>{"results.jsonl"}));

  // Nothing finished yet.
  write_text(sweep() + "/results.jsonl", "");
  r = gift("report --sweep " + quote(sweep()));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no finished cells"), std::string::npos) << r.err;

  r = gift("report");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--sweep"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gift

// Tests of the study report: aggregation over seeds, tables, and (when gnuplot is on the PATH)
// figures. (The rows and their files: results_test.cc.)
#include "gift/experiment/report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../test_util.h"
#include "experiment_test_util.h"
#include "gift/core/error.h"
#include "gift/core/stats.h"
#include "gift/experiment/frontier.h"
#include "gift/experiment/sweep.h"

namespace gift::experiment {
namespace {

namespace fs = std::filesystem;
using test::read_text;
using test::TempDir;
using test::write_text;
using test_util::make_row;
using test_util::make_sweep;
using test_util::to_jsonl;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) parts.push_back(item);
  if (!s.empty() && s.back() == sep) parts.push_back("");
  return parts;
}

const AggregateRow& find_cell(const std::vector<AggregateRow>& rows, const std::string& grid,
                              double assumed, double truth, const std::string& method) {
  for (const AggregateRow& r : rows) {
    if (r.grid == grid && r.assumed_level == assumed && r.true_level == truth &&
        r.method == method) {
      return r;
    }
  }
  throw std::runtime_error("no aggregate for " + grid + " " + method);
}

void expect_same(const Interval& got, const Interval& want) {
  EXPECT_DOUBLE_EQ(got.mean, want.mean);
  EXPECT_DOUBLE_EQ(got.low, want.low);
  EXPECT_DOUBLE_EQ(got.high, want.high);
  EXPECT_EQ(got.n, want.n);
}

TEST(Report, NullRelativeImprovementIsUndefined) {
  StudyRow r = make_row("sum_add", 0.1, 1, 1, "gift");
  r.acc_before = 0;
  r.acc_before_ci = {0, 0};
  r.relative_improvement = (r.acc_after - r.acc_before) / r.acc_before;  // inf
  const nlohmann::json j = row_to_json(r);
  EXPECT_TRUE(nlohmann::json::parse(j.dump())["relative_improvement"].is_null());
  const StudyRow back = row_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_TRUE(std::isnan(back.relative_improvement));
  const std::vector<AggregateRow> agg = aggregate({back});
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_EQ(agg[0].relative_improvement.n, 0);
  EXPECT_TRUE(table_json(agg)[0]["relative_improvement"].is_null());
  const std::vector<std::string> csv_lines = split(table_csv(agg), '\n');
  const std::vector<std::string> fields = split(csv_lines[1], ',');
  const std::vector<std::string> header = split(csv_lines[0], ',');
  ASSERT_EQ(fields.size(), header.size());
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i].rfind("relative_improvement", 0) == 0) {
      EXPECT_EQ(fields[i], "") << header[i];
    }
  }
  EXPECT_EQ(format_table(agg).find("nan"), std::string::npos) << format_table(agg);
  // With another seed defined, the mean is over that seed only.
  const StudyRow other = make_row("sum_add", 0.1, 1, 2, "gift");
  const std::vector<AggregateRow> mixed = aggregate({back, other});
  EXPECT_EQ(mixed[0].relative_improvement.n, 1);
  EXPECT_DOUBLE_EQ(mixed[0].relative_improvement.mean, other.relative_improvement);
}

// ---------------------------------------------------------------- aggregation

TEST(Report, AggregateMeansAndIntervalsOverSeeds) {
  const std::vector<AggregateRow> agg = aggregate(make_sweep(2));
  ASSERT_EQ(agg.size(), 2u * 2u * 3u * 3u);

  const StudyRow s1 = make_row("sum_add", 1, 3, 1, "gift");
  const StudyRow s2 = make_row("sum_add", 1, 3, 2, "gift");
  const AggregateRow& a = find_cell(agg, "sum_add", 1, 3, "gift");
  EXPECT_EQ(a.seeds, 2);
  EXPECT_EQ(a.dataset, "mnist");
  expect_same(a.acc_before, mean_ci95({s1.acc_before, s2.acc_before}, Over::kSeeds));
  expect_same(a.acc_after, mean_ci95({s1.acc_after, s2.acc_after}, Over::kSeeds));
  expect_same(a.acc_oracle, mean_ci95({s1.acc_oracle, s2.acc_oracle}, Over::kSeeds));
  expect_same(a.relative_improvement,
              mean_ci95({s1.relative_improvement, s2.relative_improvement}, Over::kSeeds));
  expect_same(a.recovery, mean_ci95({*s1.recovery, *s2.recovery}, Over::kSeeds));
  EXPECT_GT(a.acc_after.high - a.acc_after.low, 0);
  // With two seeds the t quantile is 12.706: the interval is mean +- 12.706 |x1 - x2| / 2.
  EXPECT_NEAR(a.acc_after.high - a.acc_after.mean,
              t_quantile_975(1) * std::abs(s1.acc_after - s2.acc_after) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(a.device_passes, 65750);
  EXPECT_DOUBLE_EQ(a.device_programmings, 34);
  EXPECT_DOUBLE_EQ(a.sample_gradients, 30000);
  EXPECT_DOUBLE_EQ(a.digital_seconds, (s1.digital_seconds + s2.digital_seconds) / 2);
  EXPECT_DOUBLE_EQ(a.accepted_fraction, 0.5);
  EXPECT_DOUBLE_EQ(find_cell(agg, "weight", 0.1, 1, "none").accepted_fraction, 0);
  EXPECT_DOUBLE_EQ(find_cell(agg, "weight", 0.1, 1, "hil").device_programmings, 484);
}

TEST(Report, AccuracyIntervalsStayWithinZeroAndOne) {
  // Two seeds far apart: the t interval (mean 0.6 +- 12.7 * 0.35) reaches far past [0, 1]; the
  // table shows it cut to the possible range, and the mean and spread untouched.
  StudyRow lo = make_row("sum_add", 0.1, 1, 1, "gift");
  StudyRow hi = make_row("sum_add", 0.1, 1, 2, "gift");
  lo.acc_after = 0.25;
  hi.acc_after = 0.95;
  const std::vector<AggregateRow> agg = aggregate({lo, hi});
  ASSERT_EQ(agg.size(), 1u);
  const Interval& a = agg[0].acc_after;
  const Interval raw = mean_ci95({0.25, 0.95}, Over::kSeeds);
  ASSERT_LT(raw.low, 0);
  ASSERT_GT(raw.high, 1);
  EXPECT_DOUBLE_EQ(a.mean, 0.6);
  EXPECT_DOUBLE_EQ(a.stddev, raw.stddev);
  EXPECT_EQ(a.low, 0);
  EXPECT_EQ(a.high, 1);
  EXPECT_NE(format_table(agg).find("60.00 [0.00, 100.00]"), std::string::npos) << format_table(agg);
}

TEST(Report, AggregateSkipsNullRecovery) {
  const std::vector<AggregateRow> agg = aggregate(make_sweep(2));
  const AggregateRow& a = find_cell(agg, "weight", 1, 1, "gift");  // seed 2's recovery is null
  EXPECT_EQ(a.seeds, 2);
  EXPECT_EQ(a.recovery.n, 1);
  const StudyRow s1 = make_row("weight", 1, 1, 1, "gift");
  EXPECT_DOUBLE_EQ(a.recovery.mean, *s1.recovery);
  EXPECT_DOUBLE_EQ(a.recovery.low, a.recovery.mean);  // one value: zero width
  EXPECT_DOUBLE_EQ(a.recovery.high, a.recovery.mean);
  EXPECT_EQ(a.acc_oracle.n, 2);

  // No seed with a recovery: n = 0, NaN, and null / empty in the tables.
  StudyRow r = make_row("weight", 1, 1, 2, "gift");
  const std::vector<AggregateRow> none = aggregate({r});
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].recovery.n, 0);
  EXPECT_TRUE(std::isnan(none[0].recovery.mean));
  EXPECT_TRUE(table_json(none)[0]["recovery"].is_null());
  const std::vector<std::string> csv_lines = split(table_csv(none), '\n');
  const std::vector<std::string> fields = split(csv_lines[1], ',');
  const std::vector<std::string> header = split(csv_lines[0], ',');
  ASSERT_EQ(fields.size(), header.size());
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i].rfind("recovery", 0) == 0 && header[i] != "recovery_seeds") {
      EXPECT_EQ(fields[i], "") << header[i];
    }
  }
  EXPECT_NE(format_table(none).find(" - "), std::string::npos) << format_table(none);
}

TEST(Report, OneSeedUsesTheMonteCarloInterval) {
  const std::vector<AggregateRow> agg = aggregate(make_sweep(1));
  ASSERT_EQ(agg.size(), 36u);
  for (const AggregateRow& a : agg) {
    const StudyRow r = make_row(a.grid, a.assumed_level, a.true_level, 1, a.method);
    EXPECT_EQ(a.seeds, 1);
    EXPECT_DOUBLE_EQ(a.acc_before.mean, r.acc_before);
    EXPECT_DOUBLE_EQ(a.acc_before.low, r.acc_before_ci.low);
    EXPECT_DOUBLE_EQ(a.acc_before.high, r.acc_before_ci.high);
    EXPECT_DOUBLE_EQ(a.acc_after.low, r.acc_after_ci.low);
    EXPECT_DOUBLE_EQ(a.acc_after.high, r.acc_after_ci.high);
    EXPECT_DOUBLE_EQ(a.acc_oracle.low, r.acc_oracle_ci.low);
    EXPECT_DOUBLE_EQ(a.acc_oracle.high, r.acc_oracle_ci.high);
    EXPECT_DOUBLE_EQ(a.relative_improvement.low, a.relative_improvement.mean);
    EXPECT_DOUBLE_EQ(a.relative_improvement.high, a.relative_improvement.mean);
    ASSERT_EQ(a.recovery.n, 1);
    EXPECT_DOUBLE_EQ(a.recovery.low, *r.recovery);
    EXPECT_DOUBLE_EQ(a.recovery.high, *r.recovery);
  }
}

TEST(Report, AggregateOrder) {
  const std::vector<AggregateRow> agg = aggregate(make_sweep(2));
  ASSERT_FALSE(agg.empty());
  EXPECT_EQ(agg[0].grid, "sum_add");
  EXPECT_EQ(agg[0].assumed_level, 0.1);
  EXPECT_EQ(agg[0].true_level, 0.1);
  EXPECT_EQ(agg[0].method, "none");
  EXPECT_EQ(agg[1].method, "gift");
  EXPECT_EQ(agg[2].method, "hil");
  EXPECT_EQ(agg[3].true_level, 1);
  for (size_t i = 1; i < agg.size(); ++i) {
    const AggregateRow &p = agg[i - 1], &q = agg[i];
    const auto key = [](const AggregateRow& r) {
      return std::make_tuple(r.grid, r.assumed_level, r.true_level, method_rank(r.method));
    };
    EXPECT_LT(key(p), key(q)) << i;
  }
  EXPECT_EQ(method_rank("none"), 0);
  EXPECT_EQ(method_rank("retrain"), 4);
  EXPECT_EQ(method_rank("other"), 5);
  // A method the report does not know sorts after retrain.
  std::vector<StudyRow> rows = {make_row("g", 1, 1, 1, "zeta"), make_row("g", 1, 1, 1, "retrain"),
                                make_row("g", 1, 1, 1, "diff")};
  const std::vector<AggregateRow> three = aggregate(rows);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0].method, "diff");
  EXPECT_EQ(three[1].method, "retrain");
  EXPECT_EQ(three[2].method, "zeta");
}

TEST(Report, AggregateKeepsTheFirstRowOfACellAndSeed) {
  StudyRow a = make_row("sum_add", 1, 1, 1, "gift");
  StudyRow b = a;
  b.key = "sum_add|1.0|1.0|1|gift";  // same cell and seed under another spelling of the key
  b.acc_after = 0.1;
  const std::vector<AggregateRow> agg = aggregate({a, b});
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_EQ(agg[0].seeds, 1);
  EXPECT_DOUBLE_EQ(agg[0].acc_after.mean, a.acc_after);
}

TEST(Report, AggregateRejectsMixedDatasets) {
  StudyRow a = make_row("sum_add", 1, 1, 1, "gift"), b = make_row("sum_add", 1, 1, 2, "gift");
  b.dataset = "fashion";
  const std::string e = test::input_error_message([&] { aggregate({a, b}); });
  EXPECT_NE(e.find("mnist"), std::string::npos) << e;
  EXPECT_NE(e.find("fashion"), std::string::npos) << e;
}

// ---------------------------------------------------------------- tables

TEST(Report, CsvHeaderAndValues) {
  const std::vector<AggregateRow> agg = aggregate(make_sweep(2));
  const std::vector<std::string> lines = split(table_csv(agg), '\n');
  ASSERT_EQ(lines.size(), agg.size() + 2);  // header, rows, and the empty piece after the last \n
  EXPECT_EQ(lines.back(), "");
  EXPECT_EQ(lines[0],
            "grid,assumed,true,method,dataset,seeds,"
            "acc_before,acc_before_low,acc_before_high,acc_after,acc_after_low,acc_after_high,"
            "acc_oracle,acc_oracle_low,acc_oracle_high,"
            "relative_improvement,relative_improvement_low,relative_improvement_high,"
            "recovery,recovery_low,recovery_high,recovery_seeds,"
            "device_passes,device_programmings,sample_gradients,digital_seconds,"
            "accepted_fraction");
  const std::vector<std::string> header = split(lines[0], ',');
  const auto column = [&](const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return i;
    }
    throw std::runtime_error("no column " + name);
  };
  bool found = false;
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    const std::vector<std::string> f = split(lines[i], ',');
    ASSERT_EQ(f.size(), header.size()) << lines[i];
    if (f[0] == "sum_add" && f[1] == "1" && f[2] == "3" && f[3] == "gift") {
      found = true;
      const AggregateRow& a = find_cell(agg, "sum_add", 1, 3, "gift");
      // Enough digits to read back exactly.
      EXPECT_EQ(std::stod(f[column("acc_after")]), a.acc_after.mean);
      EXPECT_EQ(std::stod(f[column("acc_after_low")]), a.acc_after.low);
      EXPECT_EQ(std::stod(f[column("recovery")]), a.recovery.mean);
      EXPECT_EQ(f[column("device_passes")], "65750");
      EXPECT_EQ(f[column("seeds")], "2");
      EXPECT_EQ(f[column("dataset")], "mnist");
      EXPECT_EQ(f[column("accepted_fraction")], "0.5");
    }
  }
  EXPECT_TRUE(found);

  // A grid name with a comma or quote is quoted.
  StudyRow odd = make_row("w,\"x\"", 1, 1, 1, "gift");
  const std::string csv = table_csv(aggregate({odd}));
  EXPECT_NE(csv.find("\n\"w,\"\"x\"\"\",1,1,gift,"), std::string::npos) << csv;
}

TEST(Report, WriteTablesAtomically) {
  TempDir tmp;
  const std::vector<AggregateRow> agg = aggregate(make_sweep(2));
  write_tables(tmp.dir(), agg);
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.dir())) names.insert(e.path().filename());
  EXPECT_EQ(names, (std::set<std::string>{"table.csv", "table.json"}));
  EXPECT_EQ(read_text(tmp.path("table.csv")), table_csv(agg));
  const nlohmann::json j = nlohmann::json::parse(read_text(tmp.path("table.json")));
  ASSERT_EQ(j.size(), agg.size());
  const nlohmann::json& first = j[0];
  EXPECT_EQ(first["grid"], "sum_add");
  EXPECT_EQ(first["method"], "none");
  EXPECT_DOUBLE_EQ(first["acc_after"]["mean"].get<double>(), agg[0].acc_after.mean);
  EXPECT_DOUBLE_EQ(first["acc_after"]["ci"][1].get<double>(), agg[0].acc_after.high);
  EXPECT_EQ(first["seeds"], 2);
  write_tables(tmp.path("absent"), agg);  // a missing directory is created
  EXPECT_TRUE(fs::exists(tmp.path("absent/table.csv")));
  const std::string e =
      test::input_error_message([&] { write_tables(tmp.path("table.csv"), agg); });
  EXPECT_NE(e.find("table.csv/table.csv"), std::string::npos) << e;
}

TEST(Report, TextTable) {
  const std::vector<AggregateRow> agg = aggregate(make_sweep(2));
  const std::string text = format_table(agg);
  const std::vector<std::string> lines = split(text, '\n');
  ASSERT_EQ(lines.size(), agg.size() + 3);  // header, rows, footnote, ""
  for (const char* h :
       {"grid", "assumed", "true", "method", "seeds", "before (%)", "after (%)", "oracle (%)",
        "rel. impr. (%)", "recovery", "device passes", "digital s", "accepted"}) {
    EXPECT_NE(lines[0].find(h), std::string::npos) << h;
  }
  // Columns line up: every row has the header's length (the last column is right-aligned).
  for (size_t i = 1; i <= agg.size(); ++i) EXPECT_EQ(lines[i].size(), lines[0].size()) << i;
  const AggregateRow& a = agg[1];  // sum_add 0.1 0.1 gift
  char after[64], rel[32];
  std::snprintf(after, sizeof after, "%.2f [%.2f, %.2f]", 100 * a.acc_after.mean,
                100 * a.acc_after.low, 100 * a.acc_after.high);
  std::snprintf(rel, sizeof rel, "%+.1f", 100 * a.relative_improvement.mean);
  EXPECT_NE(lines[2].find(after), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find(rel), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("65750"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("1/2"), std::string::npos) << lines[2];
}

// ---------------------------------------------------------------- figures

bool is_png(const std::string& path) {
  const std::string bytes = read_text(path);
  return bytes.size() > 100 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

bool is_svg(const std::string& path) {
  const std::string text = read_text(path);
  return text.find("<svg") != std::string::npos && text.find("</svg>") != std::string::npos;
}

std::set<std::string> files_in(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename());
  return names;
}

TEST(Report, FiguresWithGnuplot) {
  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot is not on the PATH";
  TempDir tmp;
  const std::vector<std::string> written = write_figures(tmp.dir(), aggregate(make_sweep(2)));
  std::set<std::string> figures;
  for (const char* base :
       {"fig-accuracy-sum_add-a0.1", "fig-accuracy-sum_add-a1", "fig-accuracy-weight-a0.1",
        "fig-accuracy-weight-a1", "fig-heatmap-sum_add", "fig-heatmap-weight", "fig-cost"}) {
    figures.insert(std::string(base) + ".png");
    figures.insert(std::string(base) + ".svg");
  }
  const std::set<std::string> names = files_in(tmp.dir());
  for (const std::string& name : names) {
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << "temporary file left: " << name;
  }
  for (const std::string& f : figures) {
    ASSERT_TRUE(names.count(f)) << "missing " << f;
    const std::string path = tmp.path(f);
    if (f.size() > 4 && f.compare(f.size() - 4, 4, ".png") == 0) {
      EXPECT_TRUE(is_png(path)) << path;
    } else {
      EXPECT_TRUE(is_svg(path)) << path;
    }
    EXPECT_NE(std::find(written.begin(), written.end(), path), written.end()) << path;
  }
  EXPECT_TRUE(names.count("figures.gp"));
  // Every returned path exists, and every file in the directory was returned.
  EXPECT_EQ(written.size(), names.size());
  for (const std::string& p : written) EXPECT_TRUE(fs::exists(p)) << p;
  // The axes are labelled in the vector output.
  const std::string svg = read_text(tmp.path("fig-accuracy-sum_add-a0.1.svg"));
  EXPECT_NE(svg.find("true noise std (multiple of the grid pattern)"), std::string::npos);
  EXPECT_NE(svg.find("test accuracy on device (%)"), std::string::npos);
  EXPECT_NE(svg.find("oracle (trained at the true noise)"), std::string::npos);
  EXPECT_NE(svg.find("none (baseline, trained at assumed)"), std::string::npos);
  EXPECT_EQ(svg.find("before fine-tuning"), std::string::npos);
  const std::string cost = read_text(tmp.path("fig-cost.svg"));
  EXPECT_NE(cost.find("device passes (samples)"), std::string::npos);
  EXPECT_NE(cost.find("recovery (fraction of the gap to the oracle)"), std::string::npos);

  // Rendering again replaces the figures in place.
  const std::vector<std::string> again = write_figures(tmp.dir(), aggregate(make_sweep(1)));
  EXPECT_EQ(again, written);
  EXPECT_EQ(files_in(tmp.dir()), names);
}

TEST(Report, HeatmapNeedsTwoLevelsOnSomeAxis) {
  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot is not on the PATH";
  TempDir tmp;
  // No "none" rows: the accuracy figure draws the start from acc_before instead.
  const std::vector<StudyRow> rows = {make_row("odd name/x", 0.5, 2, 1, "hil"),
                                      make_row("odd name/x", 0.5, 2, 1, "gift")};
  write_figures(tmp.dir(), aggregate(rows));
  const std::set<std::string> names = files_in(tmp.dir());
  EXPECT_TRUE(names.count("fig-accuracy-odd_name_x-a0.5.png"));
  EXPECT_TRUE(names.count("fig-accuracy-odd_name_x-a0.5.svg"));
  EXPECT_TRUE(names.count("fig-cost.png"));
  for (const std::string& n : names) {
    EXPECT_EQ(n.find("heatmap"), std::string::npos) << n;
    EXPECT_EQ(n.find(".tmp"), std::string::npos) << n;
  }
  EXPECT_TRUE(is_png(tmp.path("fig-accuracy-odd_name_x-a0.5.png")));
  const std::string svg = read_text(tmp.path("fig-accuracy-odd_name_x-a0.5.svg"));
  EXPECT_NE(svg.find("before fine-tuning (trained at assumed)"), std::string::npos);
  EXPECT_NE(svg.find("odd name/x"), std::string::npos);  // the title keeps the grid's name
}

TEST(Report, FiguresWithoutGnuplot) {
  TempDir tmp;
  const char* old = std::getenv("PATH");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("PATH", tmp.dir().c_str(), 1);  // an empty directory
  EXPECT_FALSE(gnuplot_available());
  const std::string e =
      test::input_error_message([&] { write_figures(tmp.dir(), aggregate(make_sweep(1))); });
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_EQ(e, "gnuplot not found: install Debian's gnuplot-nox");
  EXPECT_TRUE(files_in(tmp.dir()).empty());
}

// A gnuplot that fails, or that succeeds without writing: an InputError with its message, no
// figure replaced, no temporary file left.
TEST(Report, GnuplotFailureReplacesNoFigure) {
  TempDir tmp;
  const std::string bin = tmp.path("bin"), out = tmp.path("out");
  fs::create_directory(bin);
  fs::create_directory(out);
  write_text(out + "/fig-cost.png", "old");
  const char* old = std::getenv("PATH");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("PATH", (bin + ":" + saved).c_str(), 1);
  const std::string fake = bin + "/gnuplot";
  const std::vector<AggregateRow> agg = aggregate(make_sweep(1));

  write_text(fake, "#!/bin/sh\necho 'line 7: boom' >&2\nexit 1\n");
  fs::permissions(fake, fs::perms::owner_all);
  std::string e = test::input_error_message([&] { write_figures(out, agg); });
  EXPECT_NE(e.find("gnuplot failed"), std::string::npos) << e;
  EXPECT_NE(e.find("line 7: boom"), std::string::npos) << e;

  write_text(fake, "#!/bin/sh\nexit 0\n");
  e = test::input_error_message([&] { write_figures(out, agg); });
  EXPECT_NE(e.find("gnuplot wrote no"), std::string::npos) << e;
  ::setenv("PATH", saved.c_str(), 1);

  EXPECT_EQ(read_text(out + "/fig-cost.png"), "old");
  for (const std::string& name : files_in(out)) {
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
    EXPECT_EQ(name.find(".png") == std::string::npos || name == "fig-cost.png", true) << name;
  }
}

}  // namespace
}  // namespace gift::experiment

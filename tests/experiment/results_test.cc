// Tests of the one study row (experiment/results.h): its JSON, its key, the old sweep and
// frontier formats, the rows file reader's rules, level labels and recovery.
#include "gift/experiment/results.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "../test_util.h"
#include "experiment_test_util.h"
#include "gift/core/error.h"
#include "gift/experiment/frontier.h"
#include "gift/experiment/sweep.h"

namespace gift::experiment {
namespace {

using test::read_text;
using test::TempDir;
using test::write_text;
using test_util::make_row;
using test_util::to_jsonl;

// ---------------------------------------------------------------- rows

TEST(Report, RowJsonRoundTrip) {
  for (const StudyRow& r :
       {make_row("sum_add", 0.1, 3, 1, "gift"), make_row("weight", 1, 1, 2, "none")}) {
    const nlohmann::json j = row_to_json(r);
    EXPECT_EQ(row_to_json(row_from_json(j)), j);
    EXPECT_EQ(j["true"], r.true_level);
    EXPECT_EQ(j["assumed"], r.assumed_level);
    // A row's intervals are whole Intervals: their estimate is the accuracy, over noise draws.
    const StudyRow back = row_from_json(j);
    EXPECT_EQ(back.acc_after_ci.mean, back.acc_after);
    EXPECT_EQ(back.acc_oracle_ci.over, Over::kDraws);
  }
  const nlohmann::json null_recovery = row_to_json(make_row("weight", 1, 1, 2, "gift"));
  EXPECT_TRUE(null_recovery["recovery"].is_null());
  EXPECT_FALSE(row_from_json(null_recovery).recovery.has_value());
}

TEST(Report, RowErrorsNameTheField) {
  const nlohmann::json good = row_to_json(make_row("sum_add", 0.1, 1, 1, "gift"));
  const auto with = [&](const std::string& name, const nlohmann::json& value) {
    nlohmann::json j = good;
    if (value.is_discarded()) {
      j.erase(name);
    } else {
      j[name] = value;
    }
    return j;
  };
  const auto error_with = [&](const std::string& name, const nlohmann::json& value) {
    return test::input_error_message([&] { row_from_json(with(name, value)); });
  };
  const nlohmann::json missing = nlohmann::json::value_t::discarded;
  EXPECT_NE(error_with("recovery", missing).find("'recovery'"), std::string::npos);
  EXPECT_NE(error_with("recovery", missing).find("missing"), std::string::npos);
  EXPECT_NE(error_with("acc_after", 1.5).find("'acc_after'"), std::string::npos);
  EXPECT_NE(error_with("acc_after", "high").find("\"high\""), std::string::npos);
  EXPECT_NE(error_with("seed", -1).find("'seed'"), std::string::npos);
  EXPECT_NE(error_with("true", -0.5).find("'true'"), std::string::npos);
  EXPECT_NE(error_with("acc_before_ci", {0.9, 0.8}).find("'acc_before_ci'"), std::string::npos);
  EXPECT_NE(error_with("acc_oracle_ci", {0.9}).find("'acc_oracle_ci'"), std::string::npos);
  EXPECT_NE(error_with("accepted", 1).find("'accepted'"), std::string::npos);
  EXPECT_NE(error_with("device_passes", 2.5).find("'device_passes'"), std::string::npos);
  EXPECT_NE(error_with("method", "").find("'method'"), std::string::npos);
  EXPECT_NO_THROW(row_from_json(with("device_passes", 65600.0)));  // an integral float is a count
  test::expect_input_error([] { row_from_json(nlohmann::json::array()); }, {});
}

// The key is the identity the sweep resumes by: a row whose key disagrees with its fields
// would be skipped as the wrong cell.
TEST(Report, RowKeyMustMatchItsFields) {
  const StudyRow r = make_row("sum_add", 0.1, 1, 1, "gift");
  EXPECT_EQ(r.key, sweep_cell_key("sum_add", 0.1, 1, 1, "gift"));
  EXPECT_EQ(sweep_cell_key("w", 0.30000000000000004, 3, 7, "hil"),
            "w|0.30000000000000004|3|7|hil|0|0");
  nlohmann::json j = row_to_json(r);
  j["key"] = "sum_add|0.1|1|2|gift|0|0";
  const std::string e = test::input_error_message([&] { row_from_json(j); });
  EXPECT_NE(e.find("'key'"), std::string::npos) << e;
  EXPECT_NE(e.find("sum_add|0.1|1|1|gift|0|0"), std::string::npos) << e;
  j = row_to_json(r);
  j["budget_passes"] = 5;  // a budget is an axis: another cell
  EXPECT_NE(test::input_error_message([&] { row_from_json(j); }).find("'key'"), std::string::npos);
}

// The two formats before the one row model (issue 22), lines as the sweep and the frontier of
// `gift reproduce --quick` wrote them: read, with their old keys checked and replaced by
// study_key, the fields they lack at their defaults.
TEST(Report, ReadsTheOldSweepAndFrontierRows) {
  const std::string old_sweep =
      R"({"acc_after":0.9504166666666666,"acc_after_ci":[0.9488537642968227,0.9519795690365105],)"
      R"("acc_before":0.9504166666666666,"acc_before_ci":[0.9488537642968227,0.9519795690365105],)"
      R"("acc_oracle":0.9504166666666666,"acc_oracle_ci":[0.9488537642968227,0.9519795690365105],)"
      R"("accepted":false,"assumed":0.1,"dataset":"mnist","device_passes":4944,)"
      R"("device_programmings":25,"digital_seconds":2.776868542,"grid":"sum_add",)"
      R"("key":"sum_add|0.1|0.1|1|hil","method":"hil","recovery":null,"relative_improvement":0.0,)"
      R"("sample_gradients":1344,"seed":1,"true":0.1})";
  const std::string old_frontier =
      R"({"acc_after":0.17666666666666667,"acc_after_ci":[0.16655060232153926,0.18678273101179407],)"
      R"("acc_before":0.17666666666666667,"acc_before_ci":[0.16655060232153926,)"
      R"(0.18678273101179407],"acc_oracle":0.7633333333333333,"acc_oracle_ci":[0.7505103132793506,)"
      R"(0.776156353387316],"accepted":false,"budget_gradients":1000,"budget_limited":true,)"
      R"("budget_passes":4000,"dataset":"mnist","device_passes":3600,"device_programmings":4,)"
      R"("digital_seconds":9.657713174,"key":"1|gift|1000|4000","method":"gift","recovery":0.0,)"
      R"("sample_gradients":960,"seconds":11.537774696,"seed":1})";
  const std::vector<StudyRow> rows =
      parse_results(old_sweep + "\n" + old_frontier + "\n", "old.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  const StudyRow& s = rows[0];
  EXPECT_EQ(s.key, "sum_add|0.1|0.1|1|hil|0|0");
  EXPECT_EQ(s.grid, "sum_add");
  EXPECT_EQ(s.budget, (Rung{0, 0}));
  EXPECT_EQ(s.sample_gradients, 1344u);
  EXPECT_EQ(s.device_passes, 4944u);
  EXPECT_FALSE(s.budget_limited);
  EXPECT_EQ(s.seconds, 0);
  EXPECT_DOUBLE_EQ(s.digital_seconds, 2.776868542);
  const StudyRow& f = rows[1];
  EXPECT_EQ(f.key, "|0|0|1|gift|1000|4000");
  EXPECT_EQ(f.key, frontier_cell(1, "gift", {1000, 4000}).key);
  EXPECT_EQ(f.grid, "");
  EXPECT_EQ(f.budget, (Rung{1000, 4000}));
  EXPECT_TRUE(f.budget_limited);
  EXPECT_EQ(f.device_passes, 3600u);
  EXPECT_DOUBLE_EQ(f.seconds, 11.537774696);
  EXPECT_EQ(f.relative_improvement, 0.0);  // computed from the accuracies
  ASSERT_TRUE(f.recovery.has_value());
  // Their old keys are still checked in their old spelling.
  for (std::string line : {old_sweep, old_frontier}) {
    const std::string from = line == old_sweep ? "|hil\"" : "|4000\"";
    line.replace(line.find(from), from.size() - 1, line == old_sweep ? "|gift" : "|4001");
    EXPECT_NE(
        test::input_error_message([&] { parse_results(line + "\n", "old.jsonl"); }).find("'key'"),
        std::string::npos)
        << line;
  }
  // A new row of either kind is written whole, and reads back to itself.
  for (const StudyRow& r : rows)
    EXPECT_EQ(row_to_json(row_from_json(row_to_json(r))), row_to_json(r));
}

// A start at 0% accuracy has no relative improvement: the sweep writes null (JSON has no NaN),
// the reader accepts it, and the tables show it as undefined.
TEST(Report, LevelLabels) {
  EXPECT_EQ(level_label(0.1), "0.1");
  EXPECT_EQ(level_label(1), "1");
  EXPECT_EQ(level_label(3), "3");
  EXPECT_EQ(level_label(0), "0");
  EXPECT_EQ(level_label(2.5), "2.5");
  EXPECT_EQ(level_label(1e-5), "1e-05");
  EXPECT_EQ(level_label(0.1 + 0.2), "0.30000000000000004");  // distinct from 0.3
}

// ---------------------------------------------------------------- read_results

TEST(Report, ReadResultsIgnoresATruncatedLastLine) {
  TempDir tmp;
  const std::string path = tmp.path("results.jsonl");
  const std::vector<StudyRow> rows = {make_row("sum_add", 0.1, 1, 1, "none"),
                                      make_row("sum_add", 0.1, 1, 1, "gift"),
                                      make_row("sum_add", 0.1, 3, 1, "gift")};
  const std::string full = to_jsonl(rows);
  const std::string cut = row_to_json(make_row("weight", 1, 1, 1, "hil")).dump();
  // Cut mid-object, and cut mid-number (still valid JSON, but without its newline).
  for (const std::string& tail : {cut.substr(0, cut.size() / 2), std::string("{\"key\": 1")}) {
    write_text(path, full + tail);
    const std::vector<StudyRow> got = read_results(path);
    ASSERT_EQ(got.size(), 3u);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(row_to_json(got[i]), row_to_json(rows[i]));
  }
  write_text(path, full + cut);  // a complete object is still ignored without its newline
  EXPECT_EQ(read_results(path).size(), 3u);
  write_text(path, full + cut + "\n");
  EXPECT_EQ(read_results(path).size(), 4u);
  write_text(path, "");
  EXPECT_TRUE(read_results(path).empty());
  write_text(path, "\n" + full + "\n");  // blank lines are skipped
  EXPECT_EQ(read_results(path).size(), 3u);
}

// parse_results is the one reader (gift sweep resumes with it, gift report reads with it).
TEST(Report, ParseResultsPolicy) {
  const std::string a = row_to_json(make_row("sum_add", 0.1, 1, 1, "none")).dump();
  const std::string b = row_to_json(make_row("sum_add", 0.1, 1, 1, "gift")).dump();
  EXPECT_TRUE(parse_results("", "p").empty());
  EXPECT_TRUE(parse_results(" \t\r\n\n", "p").empty());
  EXPECT_TRUE(parse_results(a, "p").empty());  // no newline: a partial last line
  EXPECT_EQ(parse_results(a + "\n  \n\t\n" + b + "\n" + "{\"key\"", "p").size(), 2u);
  std::string e =
      test::input_error_message([&] { parse_results(a + "\n \n[1, 2]\n" + b + "\n", "p"); });
  EXPECT_EQ(e.rfind("'p' line 3: ", 0), 0u) << e;
  e = test::input_error_message([&] { parse_results(a + "\n\f\n", "p"); });  // not JSON whitespace
  EXPECT_EQ(e.rfind("'p' line 2: ", 0), 0u) << e;
  e = test::input_error_message(
      [&] { parse_results(std::string(100000, '[') + std::string(100000, ']') + "\n", "p"); });
  EXPECT_EQ(e.rfind("'p' line 1: JSON nested deeper", 0), 0u) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(Report, ReadResultsNamesTheMalformedLine) {
  TempDir tmp;
  const std::string path = tmp.path("results.jsonl");
  const std::string a = row_to_json(make_row("sum_add", 0.1, 1, 1, "none")).dump() + "\n";
  const std::string b = row_to_json(make_row("sum_add", 0.1, 1, 1, "gift")).dump() + "\n";

  write_text(path, a + "{\"key\": oops}\n" + b);
  std::string e = test::input_error_message([&] { read_results(path); });
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("line 2"), std::string::npos) << e;
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;

  nlohmann::json j = row_to_json(make_row("sum_add", 0.1, 3, 1, "gift"));
  j.erase("acc_after");
  write_text(path, a + "\n" + j.dump() + "\n" + b);  // the blank line 2 still counts
  e = test::input_error_message([&] { read_results(path); });
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  EXPECT_NE(e.find("'acc_after'"), std::string::npos) << e;

  e = test::input_error_message([&] { read_results(tmp.path("absent.jsonl")); });
  EXPECT_NE(e.find("absent.jsonl"), std::string::npos) << e;
}

TEST(Report, ReadResultsKeepsTheFirstOfDuplicateKeys) {
  TempDir tmp;
  const std::string path = tmp.path("results.jsonl");
  const StudyRow first = make_row("sum_add", 0.1, 1, 1, "gift");
  StudyRow again = first;
  again.acc_after = 0.5;
  again.acc_after_ci = {0.49, 0.51};
  const StudyRow other = make_row("sum_add", 0.1, 1, 2, "gift");
  write_text(path, to_jsonl({first, other, again}));
  const std::vector<StudyRow> got = read_results(path);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, first.key);
  EXPECT_DOUBLE_EQ(got[0].acc_after, first.acc_after);
  EXPECT_EQ(got[1].key, other.key);
}

TEST(Recovery, OnlyOverAGapOfAtLeastOnePoint) {
  EXPECT_DOUBLE_EQ(*recovery_of(0.5, 0.75, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(*recovery_of(0.90, 0.90, 0.91), 0.0);        // exactly one point
  EXPECT_FALSE(recovery_of(0.960, 0.937, 0.9629).has_value());  // 0.29 points: noise
  EXPECT_FALSE(recovery_of(0.97, 0.95, 0.96).has_value());      // the oracle is below the start
}

}  // namespace
}  // namespace gift::experiment

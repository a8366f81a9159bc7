// Tests of SweepPlan, the pieces run_sweep is made of and a driver across machines (the CLI's MPI
// backend) reuses: checking creates nothing; the networks and the remaining cells it plans; and
// its pieces run in another order, as scattered workers run them, write the rows run_sweep writes.
#include "gift/experiment/sweep_plan.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "../test_util.h"
#include "experiment_test_util.h"
#include "gift/core/error.h"
#include "gift/data/dataset.h"
#include "gift/experiment/number_text.h"
#include "gift/io/atomic_file.h"

namespace gift::experiment {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::TempDir;
using test_util::files_under;
using test_util::lines_of;
using test_util::write_tiny_data;

class SweepPlanTest : public ::testing::Test {
 protected:
  void SetUp() override { write_tiny_data(tmp_.path("data")); }
  // 2 assumed x 3 true x 2 seeds x 3 methods = 36 cells, 6 networks, 2 epochs each.
  SweepConfig config() const {
    return SweepConfig::from_json(test_util::small_sweep_config(tmp_.path("data"), 2), "c.json");
  }
  // The rows of results.jsonl in `dir` by key, wall time (digital_seconds) left out.
  static std::map<std::string, json> rows(const std::string& dir) {
    std::map<std::string, json> out;
    for (const std::string& line : lines_of(dir + "/results.jsonl")) {
      json j = json::parse(line);
      j.erase("digital_seconds");
      j.erase("seconds");
      out[j.at("key").get<std::string>()] = j;
    }
    return out;
  }
  TempDir tmp_;
};

TEST_F(SweepPlanTest, PlansEveryNetworkAndTheCellsLeft) {
  SweepPlan plan(config(), tmp_.path("s"));
  ASSERT_EQ(plan.cells().size(), 36u);
  // (grid, level, seed) for levels 0.05, 0.5, 1 and seeds 1, 2, ordered by level, then seed.
  ASSERT_EQ(plan.models().size(), 6u);
  EXPECT_EQ(plan.models()[0].level, 0.05);
  EXPECT_EQ(plan.models()[0].seed, 1u);
  EXPECT_EQ(plan.models()[1].seed, 2u);
  EXPECT_EQ(plan.models()[5].level, 1.0);
  // Checking locks the directory (making it) and reads what is there; it creates nothing else.
  EXPECT_EQ(plan.check(4), 4u);
  EXPECT_EQ(files_under(tmp_.path("s")), std::set<std::string>{".gift-lock"});
  EXPECT_EQ(plan.todo(), (std::vector<size_t>{0, 1, 2, 3}));
  // Cells 0-2 are (a=0.05, t=0.05, seed 1), cell 3 seed 2: the two networks at level 0.05.
  EXPECT_EQ(plan.todo_models(), (std::vector<size_t>{0, 1}));
  // A refused config is refused when planned.
  SweepConfig bad = config();
  bad.seeds = {1, 1};
  EXPECT_THROW(SweepPlan(bad, tmp_.path("s")), InputError);
  // A second plan on the folder is refused while the first holds it.
  SweepPlan second(config(), tmp_.path("s"));
  EXPECT_THROW(second.check(4), InputError);
}

// A plan that only checked leaves nothing once it is gone.
TEST_F(SweepPlanTest, APlanThatOnlyCheckedLeavesNothing) {
  { SweepPlan(config(), tmp_.path("out/s")).check(4); }
  EXPECT_FALSE(fs::exists(tmp_.path("out")));
}

// Scattered workers train the networks and run the cells in any order; the coordinator appends
// the rows as they come. The rows are those of run_sweep, which runs them in plan order.
TEST_F(SweepPlanTest, PiecesInAnyOrderWriteTheRowsOfRunSweep) {
  const std::string by_sweep = tmp_.path("sweep"), by_plan = tmp_.path("plan");
  run_sweep(config(), by_sweep, 2);

  SweepPlan coordinator(config(), by_plan);
  ASSERT_EQ(coordinator.check(0), 36u);
  coordinator.create();
  // Two "workers", each with its own plan and data, as on two machines; the networks trained
  // with 3 threads (run_sweep's jobs train with 1), in reverse order.
  SweepPlan a(config(), by_plan), b(config(), by_plan);
  a.load_data();
  b.load_data();
  const std::vector<size_t> models = coordinator.todo_models();
  for (size_t i = models.size(); i-- > 0;) (i % 2 ? a : b).train_model(models[i], 3);
  EXPECT_FALSE(a.train_model(models[0], 1)) << "a finished network is trained again";
  const std::vector<size_t> todo = coordinator.todo();
  for (size_t i = todo.size(); i-- > 0;) coordinator.record((i % 2 ? a : b).run_cell(todo[i]));

  const std::map<std::string, json> want = rows(by_sweep), got = rows(by_plan);
  ASSERT_EQ(want.size(), 36u);
  EXPECT_EQ(got, want);
  EXPECT_EQ(coordinator.summary(0).cells_run, 36u);
  EXPECT_EQ(io::read_file(by_plan + "/config.json"), io::read_file(by_sweep + "/config.json"));
}

// The data is held once, whatever the number of seeds: a seed's lab split is made when a cell
// needs it, shared by whoever holds it at the time, and dropped after (before, each seed's
// split, a whole copy of the test split, was held for the whole run).
TEST_F(SweepPlanTest, HoldsTheLabSplitsOfTheCellsInFlightOnly) {
  SweepConfig cfg = config();
  cfg.seeds = {1, 2, 3, 4, 5, 6, 7, 8};
  cfg.methods = {"none"};
  SweepPlan plan(cfg, tmp_.path("s"));
  ASSERT_EQ(plan.check(0), plan.cells().size());
  EXPECT_EQ(plan.labs_held(), 0u) << "lab splits made before any cell needs them";
  {
    const std::shared_ptr<const LabSplit> a = plan.lab(3), b = plan.lab(3), c = plan.lab(5);
    EXPECT_EQ(a.get(), b.get()) << "one seed's split made twice while held";
    EXPECT_NE(a.get(), c.get());
    EXPECT_EQ(plan.labs_held(), 2u);
    // The split is lab_split's of the test split.
    const data::Dataset test = data::load_dataset("mnist", tmp_.path("data"), data::Split::kTest);
    const LabSplit want = lab_split({test.images, test.labels}, cfg.calib_size, 3);
    EXPECT_EQ(a->calib.images, want.calib.images);
    EXPECT_EQ(a->eval.labels, want.eval.labels);
  }
  EXPECT_EQ(plan.labs_held(), 0u);
  plan.create();
  for (size_t i : plan.todo_models()) plan.train_model(i, 1);
  plan.record(plan.run_cell(plan.todo().back()));
  EXPECT_EQ(plan.labs_held(), 0u) << "a cell's split outlives the cell";
}

// A failed first run leaves nothing; once a row is written, abandon keeps everything.
TEST_F(SweepPlanTest, AbandonRemovesOnlyAFirstRunWithoutWork) {
  const std::string top = tmp_.path("out"), dir = top + "/s";
  {
    SweepPlan plan(config(), dir);
    plan.check(1);
    plan.create();
    EXPECT_TRUE(fs::exists(dir + "/results.jsonl"));
    plan.abandon();
    EXPECT_FALSE(fs::exists(top));
  }
  SweepPlan plan(config(), dir);
  plan.check(1);
  plan.create();
  for (size_t m : plan.todo_models()) plan.train_model(m, 1);
  plan.record(plan.run_cell(plan.todo()[0]));
  plan.abandon();
  EXPECT_EQ(lines_of(dir + "/results.jsonl").size(), 1u);
  SweepPlan again(config(), dir);
  EXPECT_EQ(again.check(0), 35u);
  EXPECT_EQ(again.cells_skipped(), 1u);
}

}  // namespace
}  // namespace gift::experiment

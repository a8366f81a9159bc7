// The method registry: every entry builds a method of its own name, names and ranks are
// distinct, exactly one baseline ranks first, and the prose list and errors read the table.
#include "gift/insitu/methods.h"

#include <gtest/gtest.h>

#include <set>

#include "../test_util.h"
#include "gift/core/error.h"
#include "gift/insitu/finetune.h"

namespace gift {
namespace {

TEST(Methods, EveryEntryBuildsTheMethodItNames) {
  for (const MethodInfo& m : method_registry()) {
    EXPECT_EQ(make_method(m.name)->name(), m.name);
    EXPECT_EQ(method_info(m.name).name, m.name);
    EXPECT_NE(std::string(m.summary), "");
  }
}

TEST(Methods, NamesAndRanksAreDistinctWithOneBaselineFirst) {
  std::set<std::string> names;
  std::set<int> ranks;
  int baselines = 0;
  for (const MethodInfo& m : method_registry()) {
    names.insert(m.name);
    ranks.insert(m.rank);
    if (m.baseline) {
      ++baselines;
      EXPECT_EQ(m.rank, 0);
    }
  }
  EXPECT_EQ(names.size(), method_registry().size());
  EXPECT_EQ(ranks.size(), method_registry().size());
  EXPECT_EQ(baselines, 1);
  EXPECT_EQ(method_rank("no such method"), static_cast<int>(method_registry().size()));
}

TEST(Methods, ListsReadTheRegistry) {
  EXPECT_EQ(method_names(), (std::vector<std::string>{"gift", "diff", "hil", "retrain", "none"}));
  EXPECT_EQ(method_names(false), (std::vector<std::string>{"gift", "diff", "hil", "retrain"}));
  EXPECT_EQ(method_list(), "gift, diff, hil, retrain or none");
  EXPECT_EQ(method_list(false), "gift, diff, hil or retrain");
  EXPECT_EQ(find_method("magic"), nullptr);
  EXPECT_EQ(test::input_error_message([] { make_method("magic"); }),
            "unknown fine-tuning method 'magic': expected gift, diff, hil, retrain or none");
}

}  // namespace
}  // namespace gift

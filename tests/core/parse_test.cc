// The CLI list parsers: numbers >= 0, one value for every layer or one per layer.
#include "gift/core/parse.h"

#include <gtest/gtest.h>

#include "../test_util.h"

namespace gift {
namespace {

TEST(ParseNumberList, ReadsCommaSeparatedNumbers) {
  EXPECT_EQ(parse_number_list("0.1", "--x"), (std::vector<double>{0.1}));
  EXPECT_EQ(parse_number_list("0,1.5,3 ", "--x"), (std::vector<double>{0, 1.5, 3}));
  EXPECT_INPUT_ERROR(parse_number_list("", "--levels"), "--levels", "at least one");
  EXPECT_INPUT_ERROR(parse_number_list("1,,2", "--levels"), "--levels", "'1,,2'");
  EXPECT_INPUT_ERROR(parse_number_list("1x", "--levels"), "--levels", "'1x'");
  EXPECT_INPUT_ERROR(parse_number_list("-1", "--levels"), "--levels", ">= 0");
  EXPECT_INPUT_ERROR(parse_number_list("inf", "--levels"), "--levels", ">= 0");
}

TEST(ParsePerLayer, BroadcastsOneValueOrTakesOnePerLayer) {
  EXPECT_EQ(parse_per_layer("0.5", 3, "--x"), (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(parse_per_layer("0,1,2", 3, "--x"), (std::vector<double>{0, 1, 2}));
  EXPECT_INPUT_ERROR(parse_per_layer("0,1", 3, "--x"), "--x", "1 or 3 values", "found 2");
  EXPECT_INPUT_ERROR(parse_per_layer("0,1", 1, "--x"), "1 value (one per layer)");
  EXPECT_THROW(parse_per_layer("-1", 3, "--x"), InputError);
  EXPECT_THROW(parse_per_layer("abc", 3, "--x"), InputError);
  EXPECT_THROW(parse_per_layer("nan", 3, "--x"), InputError);
}

TEST(JoinNames, ProseWithTheLastSeparator) {
  EXPECT_EQ(join_names({}, " or "), "");
  EXPECT_EQ(join_names({"a"}, " or "), "a");
  EXPECT_EQ(join_names({"a", "b"}, " or "), "a or b");
  EXPECT_EQ(join_names({"a", "b", "c"}, " and "), "a, b and c");
}

}  // namespace
}  // namespace gift

// The bounded JSON parser: every JSON input of gift goes through it.
#include "gift/io/json.h"

#include <gtest/gtest.h>

#include <string>

#include "../test_util.h"

namespace gift::io {
namespace {

TEST(ParseJson, ParsesAValue) {
  const nlohmann::json j = parse_json(R"({"a": [1, 2, {"b": null}]})", "cfg");
  EXPECT_EQ(j.at("a").at(1), 2);
  EXPECT_TRUE(j.at("a").at(2).at("b").is_null());
}

TEST(ParseJson, AcceptsNestingUpToTheLimit) {
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_NO_THROW(parse_json(ok, "cfg"));
}

TEST(ParseJson, RefusesDeepNestingWithoutRecursing) {
  // 10^5 levels: building or printing such a value would overflow the stack.
  for (const char* open : {"[", "{\"k\":"}) {
    std::string deep;
    for (int i = 0; i < 100000; ++i) deep += open;
    EXPECT_INPUT_ERROR(parse_json(deep, "device INFO"), "device INFO", "nested deeper than 64");
  }
  const std::string one_too_many =
      std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
  EXPECT_INPUT_ERROR(parse_json(one_too_many, "cfg"), "cfg", "nested deeper");
  EXPECT_INPUT_ERROR(parse_json("[[[1]]]", "cfg", 2), "nested deeper than 2");
}

TEST(ParseJson, InvalidJsonIsOneLineNamingTheInput) {
  EXPECT_INPUT_ERROR(parse_json("{\"a\": 1,\n\n", "config.json"), "config.json", "not valid JSON");
  EXPECT_INPUT_ERROR(parse_json("", "empty.json"), "empty.json", "not valid JSON");
  EXPECT_INPUT_ERROR(parse_json("[1] [2]", "two.json"), "two.json");
}

TEST(ParseJson, RefusesTextOverTheSizeLimit) {
  EXPECT_INPUT_ERROR(parse_json("[1, 2, 3]", "big.json", kMaxJsonDepth, 4), "big.json", "9 bytes",
                     "limit of 4");
}

}  // namespace
}  // namespace gift::io

// Static imperfections of a device read from JSON (sweep configs, device options).
#include "gift/onn/imperfections.h"

#include <gtest/gtest.h>

#include "../data/idx_test_util.h"

namespace gift {
namespace {

TEST(ImperfectionsFromJson, ReadsBothKeys) {
  const Imperfections imp =
      imperfections_from_json({{"gain_std", 0.05}, {"weight_bits", 6}}, "dev");
  EXPECT_DOUBLE_EQ(imp.gain_std, 0.05);
  EXPECT_EQ(imp.weight_bits, 6);
  EXPECT_EQ(imperfections_to_json(imp)["weight_bits"], 6);
}

TEST(ImperfectionsFromJson, RefusesValuesThatWouldWrap) {
  // get<int>() wrapped 2^32 + 3 to 3 bits.
  EXPECT_INPUT_ERROR(imperfections_from_json({{"weight_bits", 4294967299ULL}}, "dev"), "dev",
                     "weight_bits", "4294967299");
  EXPECT_INPUT_ERROR(imperfections_from_json({{"weight_bits", 18446744073709551615ULL}}, "dev"),
                     "weight_bits");
  EXPECT_INPUT_ERROR(imperfections_from_json({{"weight_bits", -1}}, "dev"), "weight_bits", "-1");
  EXPECT_INPUT_ERROR(imperfections_from_json({{"weight_bits", 2.5}}, "dev"), "integer");
  EXPECT_INPUT_ERROR(imperfections_from_json({{"gain_std", -0.1}}, "dev"), "gain_std");
  EXPECT_INPUT_ERROR(imperfections_from_json({{"gain", 0.1}}, "dev"), "unknown key 'gain'");
  EXPECT_INPUT_ERROR(imperfections_from_json(nlohmann::json::array(), "dev"), "JSON object");
}

}  // namespace
}  // namespace gift

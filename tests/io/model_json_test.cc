// The JSON forms of the model's value types: round trips and refusals.
#include "gift/io/model_json.h"

#include <gtest/gtest.h>

#include "../data/idx_test_util.h"

namespace gift::io {
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

TEST(NoiseJson, RoundTripsAndNamesTheFile) {
  const NoiseModel back =
      noise_from_json(noise_to_json(NoiseModel::uniform(2, NoiseSite::kOutAdd, 0.3)), 2, "t");
  EXPECT_EQ(back.layers[1].out_add, 0.3);
  EXPECT_EQ(back.layers[0].sum_add, 0);
  EXPECT_INPUT_ERROR(noise_from_json(nlohmann::json{{"sum_add", {0.1, -1.0}}}, 2, "file.json"),
                     "file.json", "sum_add");
  EXPECT_INPUT_ERROR(noise_from_json(nlohmann::json{{"sum_add", {0.1}}}, 2, "file.json"),
                     "list of 2 numbers");
}

}  // namespace
}  // namespace gift::io

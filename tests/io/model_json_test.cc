// The JSON forms of the model's value types: round trips and refusals.
#include "gift/io/model_json.h"

#include <gtest/gtest.h>

#include "../test_util.h"

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

TEST(ImperfectionsFromJson, RoundTripsTheWeightBankErrors) {
  Imperfections imp;
  imp.gain_std = 0.01;
  imp.weight_bits = 5;
  imp.row_gain_std = 0.02;
  imp.col_gain_std = 0.03;
  imp.crosstalk = 0.005;
  imp.dac = DacScale::kFixed;
  const nlohmann::json j = imperfections_to_json(imp);
  EXPECT_EQ(j.at("dac"), "fixed");
  const Imperfections back = imperfections_from_json(j, "dev");
  EXPECT_EQ(back.gain_std, imp.gain_std);
  EXPECT_EQ(back.weight_bits, imp.weight_bits);
  EXPECT_EQ(back.row_gain_std, imp.row_gain_std);
  EXPECT_EQ(back.col_gain_std, imp.col_gain_std);
  EXPECT_EQ(back.crosstalk, imp.crosstalk);
  EXPECT_EQ(back.dac, DacScale::kFixed);
  EXPECT_EQ(imperfections_to_json(back), j);
}

TEST(ImperfectionsFromJson, DefaultsAreWrittenAsBeforeAndAbsentKeysKeepThem) {
  // The later keys are written only when set: a config written before them has the same text.
  Imperfections imp;
  imp.gain_std = 0.05;
  imp.weight_bits = 6;
  EXPECT_EQ(imperfections_to_json(imp).dump(), R"({"gain_std":0.05,"weight_bits":6})");
  const Imperfections old = imperfections_from_json({{"gain_std", 0.05}, {"weight_bits", 6}}, "d");
  EXPECT_EQ(old.row_gain_std, 0);
  EXPECT_EQ(old.col_gain_std, 0);
  EXPECT_EQ(old.crosstalk, 0);
  EXPECT_EQ(old.dac, DacScale::kLayer);
  EXPECT_EQ(imperfections_from_json({{"dac", "layer"}}, "d").dac, DacScale::kLayer);
}

TEST(ImperfectionsFromJson, RefusesBadWeightBankErrorsNamingTheKey) {
  EXPECT_INPUT_ERROR(imperfections_from_json({{"row_gain_std", -0.1}}, "dev"), "dev",
                     "row_gain_std");
  EXPECT_INPUT_ERROR(imperfections_from_json({{"col_gain_std", "big"}}, "dev"), "col_gain_std",
                     "number");
  EXPECT_INPUT_ERROR(imperfections_from_json({{"crosstalk", 0.5}}, "dev"), "crosstalk", "0.5");
  EXPECT_INPUT_ERROR(imperfections_from_json({{"crosstalk", -0.01}}, "dev"), "crosstalk");
  EXPECT_INPUT_ERROR(imperfections_from_json({{"dac", "mid"}}, "dev"), "dac", "'mid'");
  EXPECT_INPUT_ERROR(imperfections_from_json({{"dac", 1}}, "dev"), "dac");
  EXPECT_INPUT_ERROR(imperfections_from_json({{"dac", "fixed"}, {"weight_bits", 1}}, "dev"),
                     "weight_bits", "fixed");
  EXPECT_INPUT_ERROR(imperfections_from_json({{"row_gain", 0.1}}, "dev"), "unknown key 'row_gain'",
                     "row_gain_std");
}

TEST(ArchitectureJson, RoundTripsExactlyAndEqualityComparesEverything) {
  const Architecture a = Architecture::from_string("6-5-3", Activation::kTanh, 0.7);
  const Architecture back = arch_from_json(nlohmann::json::parse(arch_to_json(a).dump()), "a");
  EXPECT_TRUE(back == a);
  EXPECT_FALSE(back != a);
  Architecture b = a;
  b.w_max = 0.75;
  EXPECT_TRUE(b != a);
  b = a;
  b.activations[0] = Activation::kRelu;
  EXPECT_TRUE(b != a);
  b = a;
  b.sizes[1] = 4;
  EXPECT_TRUE(b != a);
}

TEST(ArchitectureJson, RefusesWhatWouldNotBuildANetwork) {
  const auto arch = [](nlohmann::json sizes, nlohmann::json acts, nlohmann::json w_max) {
    return nlohmann::json{{"sizes", sizes}, {"activations", acts}, {"w_max", w_max}};
  };
  const nlohmann::json acts = {"relu", "linear"};
  EXPECT_INPUT_ERROR(arch_from_json({{"sizes", {5, 3}}, {"activations", {"linear"}}}, "f"), "f",
                     "w_max");
  EXPECT_INPUT_ERROR(arch_from_json(nlohmann::json::array(), "f"), "f", "sizes");
  EXPECT_INPUT_ERROR(arch_from_json(arch({5, 0, 3}, acts, 1), "f"), "widths", "found 0");
  EXPECT_INPUT_ERROR(arch_from_json(arch({(1ll << 32) + 5, 4, 3}, acts, 1), "f"), "4294967301");
  EXPECT_INPUT_ERROR(arch_from_json(arch({5, 4.5, 3}, acts, 1), "f"), "widths", "4.5");
  EXPECT_INPUT_ERROR(arch_from_json(arch({5, 4, 3}, {"relu", "gelu"}, 1), "f"),
                     "unknown activation", "gelu");
  EXPECT_INPUT_ERROR(arch_from_json(arch({5, 4, 3}, {"relu", 1}, 1), "f"), "strings");
  EXPECT_INPUT_ERROR(arch_from_json(arch({5, 4, 3}, {"relu", "relu"}, 1), "f"), "linear");
  EXPECT_INPUT_ERROR(arch_from_json(arch({5, 4, 3}, acts, -1), "f"), "w_max");
  const Architecture a = arch_from_json(arch({5, 4, 3}, acts, 0.5), "f");
  EXPECT_EQ(a.sizes, (std::vector<int>{5, 4, 3}));
  EXPECT_EQ(a.w_max, 0.5);
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

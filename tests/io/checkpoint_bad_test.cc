// Tests of load_checkpoint on bad files: every malformed, truncated or out-of-range input is a
// one-line InputError naming what was wrong.
#include <gtest/gtest.h>

#include "checkpoint_test_util.h"
#include "gift/io/checkpoint.h"

namespace gift::io {
namespace {

using namespace checkpoint_test;  // NOLINT: the helpers of this file's tests

// ---------------------------------------------------------------- bad input

// Writes a valid checkpoint to `path`, then rewrites it with `edit` applied to its contents.
void write_edited(const std::string& path, const std::function<void(io::TensorFile&)>& edit) {
  save_checkpoint(path, make_checkpoint());
  io::TensorFile f = io::read_safetensors(path);
  edit(f);
  io::write_safetensors(path, f);
}

// A fixture: `path` in a fresh directory.
class CheckpointBad : public ::testing::Test {
 protected:
  TempDir tmp_;
  const std::string path_ = tmp_.path("bad.safetensors");
};

TEST_F(CheckpointBad, MissingFile) {
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_);
  const std::string dir = tmp_.dir();
  EXPECT_INPUT_ERROR(load_checkpoint(dir), dir);  // a directory, not a file
}

TEST_F(CheckpointBad, TruncatedAtManyPoints) {
  save_checkpoint(path_, make_checkpoint());
  const std::vector<uint8_t> full = read_bytes(path_);
  ASSERT_GT(full.size(), 64u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | full[static_cast<size_t>(i)];
  ASSERT_LT(8 + n, full.size());
  const size_t data_start = static_cast<size_t>(8 + n);
  const std::vector<size_t> cuts = {0,
                                    1,
                                    7,
                                    8,
                                    9,
                                    8 + n / 2,
                                    data_start - 1,
                                    data_start,
                                    data_start + 1,
                                    data_start + (full.size() - data_start) / 2,
                                    full.size() - 4,
                                    full.size() - 1};
  for (size_t cut : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(full.size()));
    write_bytes(path_, std::vector<uint8_t>(full.begin(), full.begin() + cut));
    EXPECT_INPUT_ERROR(load_checkpoint(path_), path_);
  }
}

TEST_F(CheckpointBad, FormatMetadataMissing) {
  write_edited(path_, [](io::TensorFile& f) { f.metadata.erase("format"); });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "format");
}

TEST_F(CheckpointBad, FormatMetadataDifferent) {
  write_edited(path_, [](io::TensorFile& f) { f.metadata["format"] = "pytorch"; });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "not a gift checkpoint", "pytorch");
}

TEST_F(CheckpointBad, PlainSafetensorsWithoutMetadata) {
  io::TensorFile f;
  f.tensors["weight"] = io::make_tensor(io::DType::kF32, {2, 2}, {1, 2, 3, 4});
  io::write_safetensors(path_, f);
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "format");
}

TEST_F(CheckpointBad, UnsupportedFormatVersion) {
  write_edited(path_, [](io::TensorFile& f) { f.metadata["format_version"] = "2"; });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "version 2", "not supported");
  write_edited(path_, [](io::TensorFile& f) { f.metadata["format_version"] = "one"; });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "format_version", "'one'");
}

TEST_F(CheckpointBad, ArchitectureNotJson) {
  write_edited(path_, [](io::TensorFile& f) { f.metadata["architecture"] = "{\"sizes\": [5,"; });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "architecture", "not valid JSON");
  write_edited(path_, [](io::TensorFile& f) { f.metadata["architecture"] = "[5, 4, 3]"; });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "architecture");
}

// Replaces the architecture metadata by `arch` (a JSON object).
void set_arch(io::TensorFile& f, const json& arch) { f.metadata["architecture"] = arch.dump(); }

TEST_F(CheckpointBad, ArchitectureLastActivationNotLinear) {
  write_edited(path_, [](io::TensorFile& f) {
    set_arch(f, {{"sizes", {5, 4, 3}}, {"activations", {"relu", "relu"}}, {"w_max", 0.8}});
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "linear");
}

TEST_F(CheckpointBad, ArchitectureZeroWidth) {
  write_edited(path_, [](io::TensorFile& f) {
    set_arch(f, {{"sizes", {5, 0, 3}}, {"activations", {"relu", "linear"}}, {"w_max", 0.8}});
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "width");
}

TEST_F(CheckpointBad, ArchitectureWidthsAndActivationsDisagree) {
  write_edited(path_, [](io::TensorFile& f) {
    set_arch(f, {{"sizes", {5, 4, 3}}, {"activations", {"linear"}}, {"w_max", 0.8}});
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "architecture");
}

// A small file may claim widths up to 2^20 (valid ones): the loader allocated a network of
// 2^40 parameters before noticing that its tensors are far smaller (fuzz regression).
TEST_F(CheckpointBad, HugeArchitectureWithSmallTensorsAllocatesNothing) {
  write_edited(path_, [](io::TensorFile& f) {
    set_arch(
        f, {{"sizes", {1 << 20, 1 << 20, 3}}, {"activations", {"relu", "linear"}}, {"w_max", 0.8}});
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "layers.0.weight", "[1048576,1048576]");
}

TEST_F(CheckpointBad, ArchitectureUnknownActivation) {
  write_edited(path_, [](io::TensorFile& f) {
    set_arch(f, {{"sizes", {5, 4, 3}}, {"activations", {"swish", "linear"}}, {"w_max", 0.8}});
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "swish");
}

TEST_F(CheckpointBad, ArchitectureBadWmax) {
  write_edited(path_, [](io::TensorFile& f) {
    set_arch(f, {{"sizes", {5, 4, 3}}, {"activations", {"relu", "linear"}}, {"w_max", -1}});
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "w_max");
}

TEST_F(CheckpointBad, WeightWithWrongShape) {
  write_edited(path_, [](io::TensorFile& f) {
    io::Tensor& w = f.tensors.at("layers.0.weight");  // 4 x 5, stored transposed
    w.shape = {5, 4};
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "layers.0.weight", "[5,4]", "[4,5]");
  write_edited(path_, [](io::TensorFile& f) {
    io::Tensor& w = f.tensors.at("layers.1.weight");  // 3 x 4, one row short
    w.shape = {2, 4};
    w.values.resize(8);
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "layers.1.weight", "[3,4]");
}

TEST_F(CheckpointBad, MissingBias) {
  write_edited(path_, [](io::TensorFile& f) { f.tensors.erase("layers.1.bias"); });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "layers.1.bias");
}

TEST_F(CheckpointBad, ExtraUnexpectedTensor) {
  write_edited(path_, [](io::TensorFile& f) {
    f.tensors["layers.2.weight"] = io::make_tensor(io::DType::kF32, {1}, {0.5});
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "9 tensors", "expected 8");
}

TEST_F(CheckpointBad, SecondMomentWithoutFirst) {
  write_edited(path_, [](io::TensorFile& f) { f.tensors.erase("optimizer.m"); });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "tensors");
}

// The hand-built file: the valid checkpoint's tensors with one value replaced.
void write_with_value(const std::string& path, const std::string& tensor, size_t i, double v) {
  write_edited(path, [&](io::TensorFile& f) { f.tensors.at(tensor).values.at(i) = v; });
}

TEST_F(CheckpointBad, NaNInWeight) {
  write_with_value(path_, "layers.0.weight", 6, kNaN);
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "layers.0.weight", "non-finite", "index 6");
}

TEST_F(CheckpointBad, InfInBias) {
  write_with_value(path_, "layers.1.bias", 2, kInf);
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "layers.1.bias", "non-finite");
  write_with_value(path_, "layers.0.bias", 0, -kInf);
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "layers.0.bias", "non-finite");
}

TEST_F(CheckpointBad, NaNInOptimizerState) {
  write_with_value(path_, "optimizer.v", 1, kNaN);
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "optimizer.v", "non-finite");
}

TEST_F(CheckpointBad, WeightBeyondWmax) {
  write_with_value(path_, "layers.1.weight", 3, -0.9);  // w_max is 0.8
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "layers.1.weight", "w_max");
}

// project() clips to float(w_max), which may round above w_max (0.8f > 0.8): a network
// saturated at the bound must load.
TEST_F(CheckpointBad, ProjectedWeightsAtWmaxAreAccepted) {
  Checkpoint c = make_checkpoint();
  c.net.weight(0)(1, 2) = 5;
  c.net.weight(1)(2, 3) = -5;
  c.net.project();
  ASSERT_GT(c.net.weight(0)(1, 2), 0.8);
  save_checkpoint(path_, c);
  Checkpoint r;
  ASSERT_NO_THROW(r = load_checkpoint(path_));
  expect_bitwise_equal(r.net.params(), c.net.params(), "params");
}

TEST_F(CheckpointBad, F64WhereF32IsExpected) {
  write_edited(path_,
               [](io::TensorFile& f) { f.tensors.at("layers.0.weight").dtype = io::DType::kF64; });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "layers.0.weight", "F32");
}

// Replaces one field of the noise metadata.
void set_noise_field(io::TensorFile& f, const std::string& key, const json& value) {
  json j = json::parse(f.metadata.at("noise"));
  j[key] = value;
  f.metadata["noise"] = j.dump();
}

TEST_F(CheckpointBad, NegativeNoiseStd) {
  write_edited(path_, [](io::TensorFile& f) { set_noise_field(f, "sum_add", {0.1, -0.1}); });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "noise", "sum_add", "layer 1");
}

TEST_F(CheckpointBad, MalformedNoise) {
  write_edited(path_, [](io::TensorFile& f) { set_noise_field(f, "weight", {0.1}); });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "noise", "weight");
  write_edited(path_, [](io::TensorFile& f) { set_noise_field(f, "output_clip", -1.0); });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "noise", "output_clip");
  write_edited(path_, [](io::TensorFile& f) { f.metadata["noise"] = "0.1"; });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "noise");
}

TEST_F(CheckpointBad, EpochsDoneNotAnInteger) {
  for (const char* text : {"2.5", "abc", "", "-1", "3 epochs", "99999999999999999999999"}) {
    SCOPED_TRACE(text);
    write_edited(path_, [&](io::TensorFile& f) { f.metadata["epochs_done"] = text; });
    EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "epochs_done");
  }
}

TEST_F(CheckpointBad, EpochsDoneBeyondInt) {
  write_edited(path_, [](io::TensorFile& f) { f.metadata["epochs_done"] = "4294967299"; });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "epochs_done");
}

TEST_F(CheckpointBad, EpochsDoneMissing) {
  write_edited(path_, [](io::TensorFile& f) { f.metadata.erase("epochs_done"); });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "epochs_done");
}

// Numbers that get<int>() would wrap, truncate or (a float beyond the range: undefined
// behaviour) convert arbitrarily (fuzz regressions).
TEST_F(CheckpointBad, TrainIntegersOutOfRangeOrFractional) {
  const std::vector<std::pair<const char*, json>> cases = {
      {"epochs", 1e300}, {"epochs", 2.5}, {"batch_size", 4294967328ull},
      {"seed", -5.5},    {"seed", -1},    {"seed", 1e30}};
  for (const auto& [key, value] : cases) {
    SCOPED_TRACE(std::string(key) + " = " + value.dump());
    write_edited(path_, [&, key = key, value = value](io::TensorFile& f) {
      json j = json::parse(f.metadata.at("train"));
      j[key] = value;
      f.metadata["train"] = j.dump();
    });
    EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "train", key, "integer");
  }
}

TEST_F(CheckpointBad, ArchitectureWidthBeyondInt) {  // was read as 2^32 + 5 -> 5
  write_edited(path_, [](io::TensorFile& f) {
    set_arch(
        f,
        {{"sizes", {(1ll << 32) + 5, 4, 3}}, {"activations", {"relu", "linear"}}, {"w_max", 0.8}});
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "architecture", "4294967301");
}

TEST_F(CheckpointBad, TrainOptionsMalformed) {
  write_edited(path_, [](io::TensorFile& f) { f.metadata["train"] = "not json"; });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "train", "not valid JSON");
  write_edited(path_, [](io::TensorFile& f) {
    json j = json::parse(f.metadata.at("train"));
    j["batch_size"] = "many";
    f.metadata["train"] = j.dump();
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "batch_size");
  write_edited(path_, [](io::TensorFile& f) {
    json j = json::parse(f.metadata.at("train"));
    j["optimizer"]["kind"] = "rmsprop";
    f.metadata["train"] = j.dump();
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "rmsprop");
  write_edited(path_, [](io::TensorFile& f) {
    json j = json::parse(f.metadata.at("train"));
    j["schedule"] = "step";
    f.metadata["train"] = j.dump();
  });
  EXPECT_INPUT_ERROR(load_checkpoint(path_), path_, "step");
}

}  // namespace
}  // namespace gift::io

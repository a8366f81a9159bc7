#include "gift/io/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../test_util.h"
#include "gift/core/error.h"
#include "gift/io/safetensors.h"

namespace gift::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// A checkpoint where every field differs from its default: 5-4-3 relu/linear, w_max 0.8,
// different noise per layer and site, SGD with a constant schedule, optimizer moments.
Checkpoint make_checkpoint() {
  Checkpoint c;
  c.net = Network(Architecture{{5, 4, 3}, {Activation::kRelu, Activation::kLinear}, 0.8});
  c.net.init(7);
  // Non-zero biases, so a swapped or dropped bias would show.
  for (size_t l = 0; l < c.net.num_layers(); ++l) {
    auto b = c.net.bias(l);
    for (Eigen::Index i = 0; i < b.size(); ++i) b[i] = 0.1f * static_cast<float>(i + 1) - 0.25f;
  }
  c.train.epochs = 7;
  c.train.schedule = LrSchedule::kConstant;
  c.train.batch_size = 32;
  c.train.seed = 0xFEDCBA9876543210ull;  // beyond 2^53: must survive JSON exactly
  c.train.optimizer.kind = OptimizerKind::kSgd;
  c.train.optimizer.lr = 0.0123;
  c.train.optimizer.momentum = 0.8;
  c.train.optimizer.beta1 = 0.85;
  c.train.optimizer.beta2 = 0.995;
  c.train.optimizer.eps = 1e-7;
  c.train.optimizer.weight_decay = 1e-4;
  c.train.noise = NoiseModel::none(2);
  c.train.noise.layers[0] = {0.01, 0.02, 0.03, 0.04};
  c.train.noise.layers[1] = {0.05, 0, 0.1 / 3, 0};
  c.train.noise.output_clip = 2.5;
  c.state.epochs_done = 3;
  const Eigen::Index P = c.net.params().size();
  c.state.optimizer.m.resize(P);
  c.state.optimizer.v.resize(P);
  for (Eigen::Index i = 0; i < P; ++i) {
    c.state.optimizer.m[i] = 1e-3f * static_cast<float>(i) - 0.01f;
    c.state.optimizer.v[i] = 1e-5f * static_cast<float>(i * i) + 1e-9f;
  }
  c.state.optimizer.step = 42;
  c.dataset = "fashion-mnist";
  c.extra["finetune_report"] = "{\"method\":\"perturb\",\"gain\":0.5}";
  c.extra["note"] = "hello, world";
  return c;
}

void expect_bitwise_equal(const Vec& a, const Vec& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.size())), 0)
      << what;
}

// Names of the files in dir other than the given ones (e.g. leftover temporaries).
std::vector<std::string> others_in(const std::string& dir, const std::vector<std::string>& keep) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    bool kept = false;
    for (const std::string& k : keep) kept = kept || name == k;
    if (!kept) out.push_back(name);
  }
  return out;
}

// ---------------------------------------------------------------- round trip

TEST(Checkpoint, RoundTripKeepsEverything) {
  TempDir tmp;
  const std::string path = tmp.path("model.safetensors");
  const Checkpoint c = make_checkpoint();
  save_checkpoint(path, c);
  const Checkpoint r = load_checkpoint(path);

  const Architecture& a = r.net.arch();
  EXPECT_EQ(a.sizes, c.net.arch().sizes);
  EXPECT_EQ(a.activations, c.net.arch().activations);
  EXPECT_EQ(a.w_max, 0.8);
  expect_bitwise_equal(r.net.params(), c.net.params(), "params");

  ASSERT_EQ(r.train.noise.layers.size(), 2u);
  for (size_t l = 0; l < 2; ++l) {
    for (int s = 0; s < kNumNoiseSites; ++s) {
      const NoiseSite site = static_cast<NoiseSite>(s);
      EXPECT_EQ(r.train.noise.layers[l].at(site), c.train.noise.layers[l].at(site))
          << "layer " << l << " " << to_string(site);
    }
  }
  EXPECT_EQ(r.train.noise.output_clip, 2.5);

  EXPECT_EQ(r.train.epochs, 7);
  EXPECT_EQ(r.train.schedule, LrSchedule::kConstant);
  EXPECT_EQ(r.train.batch_size, 32);
  EXPECT_EQ(r.train.seed, 0xFEDCBA9876543210ull);
  const OptimizerOptions& o = r.train.optimizer;
  EXPECT_EQ(o.kind, OptimizerKind::kSgd);
  EXPECT_EQ(o.lr, 0.0123);
  EXPECT_EQ(o.momentum, 0.8);
  EXPECT_EQ(o.beta1, 0.85);
  EXPECT_EQ(o.beta2, 0.995);
  EXPECT_EQ(o.eps, 1e-7);
  EXPECT_EQ(o.weight_decay, 1e-4);

  EXPECT_EQ(r.state.epochs_done, 3);
  expect_bitwise_equal(r.state.optimizer.m, c.state.optimizer.m, "optimizer.m");
  expect_bitwise_equal(r.state.optimizer.v, c.state.optimizer.v, "optimizer.v");
  EXPECT_EQ(r.state.optimizer.step, 42);

  EXPECT_EQ(r.dataset, "fashion-mnist");
  EXPECT_EQ(r.extra, c.extra);
}

TEST(Checkpoint, RoundTripWithoutOptimizerStateOrNoise) {
  TempDir tmp;
  const std::string path = tmp.path("plain.safetensors");
  Checkpoint c;
  c.net = Network(Architecture::from_string("6-2", Activation::kTanh, 1.0));
  c.net.init(3);
  save_checkpoint(path, c);
  const Checkpoint r = load_checkpoint(path);
  expect_bitwise_equal(r.net.params(), c.net.params(), "params");
  EXPECT_EQ(r.net.arch().activations, std::vector<Activation>{Activation::kLinear});
  EXPECT_EQ(r.train.noise.layers.size(), 1u);
  EXPECT_FALSE(r.train.noise.any());
  EXPECT_EQ(r.state.epochs_done, 0);
  EXPECT_EQ(r.state.optimizer.m.size(), 0);
  EXPECT_EQ(r.state.optimizer.v.size(), 0);
  EXPECT_TRUE(r.extra.empty());
}

TEST(Checkpoint, SavingTwiceGivesTheSameBytes) {
  TempDir tmp;
  save_checkpoint(tmp.path("a"), make_checkpoint());
  save_checkpoint(tmp.path("b"), make_checkpoint());
  EXPECT_EQ(read_bytes(tmp.path("a")), read_bytes(tmp.path("b")));
}

TEST(Checkpoint, SaveReplacesAnExistingCheckpoint) {
  TempDir tmp;
  const std::string path = tmp.path("model.safetensors");
  save_checkpoint(path, make_checkpoint());
  Checkpoint other;
  other.net = Network(Architecture::from_string("3-7-2", Activation::kSigmoid, 0.5));
  other.net.init(11);
  other.state.epochs_done = 9;
  other.dataset = "mnist";
  save_checkpoint(path, other);
  const Checkpoint r = load_checkpoint(path);
  EXPECT_EQ(r.net.arch().sizes, (std::vector<int>{3, 7, 2}));
  expect_bitwise_equal(r.net.params(), other.net.params(), "params");
  EXPECT_EQ(r.state.epochs_done, 9);
  EXPECT_EQ(r.dataset, "mnist");
  EXPECT_TRUE(r.extra.empty()) << "metadata of the old file leaked into the new one";
  EXPECT_EQ(others_in(tmp.dir(), {"model.safetensors"}), std::vector<std::string>{});
}

TEST(Checkpoint, SaveRefusesNonFiniteNetworkAndWritesNothing) {
  for (double bad : {kNaN, kInf, -kInf}) {
    TempDir tmp;
    const std::string path = tmp.path("model.safetensors");
    Checkpoint c = make_checkpoint();
    c.net.params()[4] = static_cast<float>(bad);
    EXPECT_INPUT_ERROR(save_checkpoint(path, c), path, "NaN or inf");
    EXPECT_FALSE(fs::exists(path));
    EXPECT_EQ(others_in(tmp.dir(), {}), std::vector<std::string>{});
  }
}

TEST(Checkpoint, RefusedSaveLeavesTheOldFileAlone) {
  TempDir tmp;
  const std::string path = tmp.path("model.safetensors");
  save_checkpoint(path, make_checkpoint());
  const std::vector<uint8_t> before = read_bytes(path);
  Checkpoint c = make_checkpoint();
  c.net.bias(1)[0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_INPUT_ERROR(save_checkpoint(path, c), path);
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(others_in(tmp.dir(), {"model.safetensors"}), std::vector<std::string>{});
}

TEST(Checkpoint, SaveCreatesMissingDirectories) {
  TempDir tmp;
  const std::string path = tmp.path("no/such/dir/model.safetensors");
  save_checkpoint(path, make_checkpoint());
  EXPECT_NO_THROW(load_checkpoint(path));
}

TEST(Checkpoint, SaveUnderAFileThrows) {
  TempDir tmp;
  write_bytes(tmp.path("file"), {1});
  const std::string path = tmp.path("file/model.safetensors");
  EXPECT_INPUT_ERROR(save_checkpoint(path, make_checkpoint()), path);
}

// Python with numpy (json + struct + numpy.frombuffer, no gift, no safetensors package) reads
// the file and prints each tensor's name, shape and float32 bit patterns.
TEST(Checkpoint, ReadableFromPythonWithNumpyOnly) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  }
  TempDir tmp;
  const std::string path = tmp.path("model.safetensors");
  const Checkpoint c = make_checkpoint();
  save_checkpoint(path, c);
  const std::string script = tmp.path("read.py");
  {
    std::ofstream py(script);
    py << R"(import json, struct, sys
import numpy as np
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n].decode("utf-8"))
meta = header.pop("__metadata__")
assert meta["format"] == "gift-checkpoint", meta
arch = json.loads(meta["architecture"])
print("sizes", " ".join(str(s) for s in arch["sizes"]))
print("epochs_done", meta["epochs_done"])
data = raw[8 + n:]
for name in sorted(header):
    t = header[name]
    assert t["dtype"] == "F32", t
    b, e = t["data_offsets"]
    a = np.frombuffer(data[b:e], dtype="<f4").reshape(t["shape"])
    bits = a.reshape(-1).view("<u4")
    print(name, "x".join(str(s) for s in a.shape), " ".join(str(int(x)) for x in bits))
)";
  }
  const std::string out = tmp.path("out.txt");
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " " + path + " > " + out).c_str()), 0);

  std::map<std::string, std::pair<std::string, std::vector<uint32_t>>> seen;
  std::ifstream in(out);
  std::string line;
  std::string sizes, epochs_done;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name;
    ls >> name;
    if (name == "sizes") {
      std::getline(ls, sizes);
    } else if (name == "epochs_done") {
      ls >> epochs_done;
    } else {
      std::string shape;
      ls >> shape;
      std::vector<uint32_t> bits;
      for (uint32_t x; ls >> x;) bits.push_back(x);
      seen[name] = {shape, bits};
    }
  }
  EXPECT_EQ(sizes, " 5 4 3");
  EXPECT_EQ(epochs_done, "3");

  const auto bits_of = [](const float* p, Eigen::Index n) {
    std::vector<uint32_t> v(static_cast<size_t>(n));
    std::memcpy(v.data(), p, sizeof(float) * v.size());
    return v;
  };
  ASSERT_EQ(seen.size(), 8u);  // 2 weights, 2 biases, 2 gains, optimizer.m, optimizer.v
  for (size_t l = 0; l < 2; ++l) {
    const auto W = c.net.weight(l);
    const auto b = c.net.bias(l);
    const std::string wn = "layers." + std::to_string(l) + ".weight";
    const std::string bn = "layers." + std::to_string(l) + ".bias";
    EXPECT_EQ(seen[wn].first, std::to_string(W.rows()) + "x" + std::to_string(W.cols()));
    EXPECT_EQ(seen[wn].second, bits_of(W.data(), W.size())) << wn;  // row-major, C order
    EXPECT_EQ(seen[bn].first, std::to_string(b.size()));
    EXPECT_EQ(seen[bn].second, bits_of(b.data(), b.size())) << bn;
  }
  const Vec& m = c.state.optimizer.m;
  EXPECT_EQ(seen["optimizer.m"].second, bits_of(m.data(), m.size()));
}

TEST(Checkpoint, ParseCheckpointReadsTheBytesLikeLoadCheckpoint) {
  TempDir t;
  const std::string path = t.path("m.safetensors");
  save_checkpoint(path, make_checkpoint());
  const std::vector<uint8_t> bytes = read_bytes(path);
  const Checkpoint a = load_checkpoint(path);
  const Checkpoint b = parse_checkpoint(bytes.data(), bytes.size(), "in memory");
  EXPECT_EQ(a.net.params(), b.net.params());
  EXPECT_EQ(a.train.noise.layers.size(), b.train.noise.layers.size());
  EXPECT_EQ(a.state.optimizer.m, b.state.optimizer.m);
  EXPECT_EQ(a.dataset, b.dataset);
  EXPECT_INPUT_ERROR(parse_checkpoint(bytes.data(), bytes.size() - 1, "in memory"), "in memory");
}

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

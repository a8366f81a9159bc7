// Tests of checkpoints: round trips, bytes, saving; the refusals of bad files are
// checkpoint_bad_test.cc's.
#include "gift/io/checkpoint.h"

#include <gtest/gtest.h>

#include "checkpoint_test_util.h"

namespace gift::io {
namespace {

using namespace checkpoint_test;  // NOLINT: the helpers of this file's tests

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

}  // namespace
}  // namespace gift::io

// The Device conformance suite (SPEC §3), run on every implementation: the simulated
// device, the external device talking to `gift device-server`, and the external device
// talking to the Python example server (examples/device_server.py; noiseless only, skipped
// without /usr/bin/python3 and numpy). Plus: the external device is bitwise the simulated
// device it wraps, and the Python example agrees with a noiseless simulated chip.
#include "gift/insitu/device.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>

#include "../test_util.h"
#include "device_test_util.h"
#include "gift/core/error.h"
#include "gift/insitu/external_device.h"
#include "gift/insitu/finetune.h"
#include "gift/insitu/methods.h"
#include "gift/insitu/simulated_device.h"

namespace gift {
namespace {

using test::make_inputs;
using test::make_net;
using test::small_arch;

enum class Impl { kSimulated, kGiftServer, kPythonServer };
const char* impl_name(Impl i) {
  switch (i) {
    case Impl::kSimulated:
      return "Simulated";
    case Impl::kGiftServer:
      return "GiftServer";
    case Impl::kPythonServer:
      return "PythonServer";
  }
  return "Unknown";
}
void PrintTo(Impl i, std::ostream* os) { *os << impl_name(i); }

// Every noise site on every layer (different per layer), saturation, fixed errors.
SimulatedDeviceOptions all_imperfect(uint64_t seed, int threads) {
  SimulatedDeviceOptions o;
  o.noise.layers = {{0.05, 0.02, 0.1, 0.03}, {0.02, 0.04, 0.05, 0.01}, {0.01, 0.01, 0.2, 0.05}};
  o.noise.output_clip = 2.5;
  o.imperfections.gain_std = 0.03;
  o.imperfections.weight_bits = 6;
  o.seed = seed;
  o.threads = threads;
  return o;
}

class DeviceConformance : public ::testing::TestWithParam<Impl> {
 protected:
  // The device under test for chip (arch, o); null (and a reason in skip_) when this
  // implementation cannot run here or cannot model the chip.
  std::unique_ptr<Device> make(const Architecture& arch, const SimulatedDeviceOptions& o) {
    switch (GetParam()) {
      case Impl::kSimulated:
        return std::make_unique<SimulatedDevice>(arch, o);
      case Impl::kGiftServer:
        return std::make_unique<ExternalDevice>(test::gift_server_argv(arch, o));
      case Impl::kPythonServer:
        if (!test::python_numpy_available()) {
          skip_ = "/usr/bin/python3 with numpy is not available";
          return nullptr;
        }
        if (o.noise.any() || o.imperfections.any()) {
          skip_ = "the Python example simulates a noiseless chip";
          return nullptr;
        }
        return std::make_unique<ExternalDevice>(test::python_server_argv(arch, o.taps));
    }
    return nullptr;
  }
  std::string skip_;
};

#define MAKE_OR_SKIP(dev, arch, opts)             \
  std::unique_ptr<Device> dev = make(arch, opts); \
  if (!dev) GTEST_SKIP() << skip_

TEST_P(DeviceConformance, InfoMatchesTheChip) {
  for (bool taps : {true, false}) {
    const Architecture arch = small_arch(Activation::kTanh, 0.75);
    SimulatedDeviceOptions o;
    o.taps = taps;
    MAKE_OR_SKIP(dev, arch, o);
    const DeviceInfo info = dev->info();
    EXPECT_EQ(info.arch.sizes, arch.sizes);
    EXPECT_EQ(info.arch.activations, arch.activations);
    EXPECT_EQ(info.arch.w_max, arch.w_max);
    EXPECT_EQ(info.taps, taps);
    EXPECT_FALSE(info.name.empty());
  }
}

TEST_P(DeviceConformance, ForwardBeforeProgramThrows) {
  MAKE_OR_SKIP(dev, small_arch(), SimulatedDeviceOptions{});
  EXPECT_THROW(dev->forward(make_inputs(2, 6, 1), false), InputError);
  EXPECT_THROW(dev->forward(make_inputs(2, 6, 1), true), InputError);
  EXPECT_EQ(dev->counters().forwards, 0u);
}

TEST_P(DeviceConformance, WidthMismatchThrows) {
  MAKE_OR_SKIP(dev, small_arch(), SimulatedDeviceOptions{});
  dev->program(make_net(small_arch(), 1));
  EXPECT_THROW(dev->forward(make_inputs(3, 5, 1), false), InputError);
  EXPECT_THROW(dev->forward(make_inputs(3, 7, 1), true), InputError);
  EXPECT_EQ(dev->forward(make_inputs(3, 6, 1), false).out.rows(), 3);  // still usable
}

TEST_P(DeviceConformance, ProgramWithWrongArchitectureThrows) {
  MAKE_OR_SKIP(dev, small_arch(), SimulatedDeviceOptions{});
  const Architecture wrong[] = {Architecture::from_string("6-5-3", Activation::kRelu, 1.0),
                                Architecture::from_string("7-5-4-3", Activation::kRelu, 1.0),
                                small_arch(Activation::kTanh), small_arch(Activation::kRelu, 0.5)};
  for (const Architecture& a : wrong) {
    EXPECT_THROW(dev->program(make_net(a, 1)), InputError) << a.describe();
  }
  Network nan = make_net(small_arch(), 1);
  nan.params()[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(dev->program(nan), InputError);
  EXPECT_EQ(dev->counters().programmings, 0u);
  dev->program(make_net(small_arch(), 1));
  EXPECT_EQ(dev->counters().programmings, 1u);
}

TEST_P(DeviceConformance, TapsHoldEveryLayerSumAndTheOutput) {
  const Architecture arch = small_arch();
  MAKE_OR_SKIP(dev, arch, SimulatedDeviceOptions{});
  dev->program(make_net(arch, 2));
  const Mat x = make_inputs(5, 6, 2);
  const DeviceOutput t = dev->forward(x, true);
  ASSERT_EQ(t.sums.size(), arch.num_layers());
  for (size_t l = 0; l < arch.num_layers(); ++l) {
    EXPECT_EQ(t.sums[l].rows(), 5);
    EXPECT_EQ(t.sums[l].cols(), arch.sizes[l + 1]);
  }
  EXPECT_EQ(t.out.rows(), 5);
  EXPECT_EQ(t.out.cols(), 3);
  // Noiseless, the linear last layer's output is its detected sum.
  test::expect_bitwise(t.out, t.sums.back(), "output vs last sum");
  const DeviceOutput n = dev->forward(x, false);
  EXPECT_TRUE(n.sums.empty());
  test::expect_bitwise(n.out, t.out, "output without taps");
}

TEST_P(DeviceConformance, DeviceWithoutTapsRejectsTapsRequest) {
  SimulatedDeviceOptions o;
  o.taps = false;
  MAKE_OR_SKIP(dev, small_arch(), o);
  dev->program(make_net(small_arch(), 3));
  EXPECT_THROW(dev->forward(make_inputs(4, 6, 3), true), InputError);
  const DeviceOutput out = dev->forward(make_inputs(4, 6, 3), false);
  EXPECT_TRUE(out.sums.empty());
  EXPECT_EQ(out.out.rows(), 4);
  EXPECT_EQ(dev->counters().forwards, 1u);
}

TEST_P(DeviceConformance, NoisyChipDrawsFreshNoiseOnEveryCall) {
  MAKE_OR_SKIP(dev, small_arch(), all_imperfect(3, 1));
  dev->program(make_net(small_arch(), 4));
  const Mat x = make_inputs(8, 6, 4);
  const DeviceOutput a = dev->forward(x, true), b = dev->forward(x, true);
  EXPECT_GT((a.out - b.out).cwiseAbs().maxCoeff(), 0.0f);
  for (size_t l = 0; l < a.sums.size(); ++l) {
    EXPECT_GT((a.sums[l] - b.sums[l]).cwiseAbs().maxCoeff(), 0.0f) << "layer " << l;
  }
}

TEST_P(DeviceConformance, IdealChipGivesIdenticalOutputs) {
  MAKE_OR_SKIP(dev, small_arch(), SimulatedDeviceOptions{});
  dev->program(make_net(small_arch(), 5));
  const Mat x = make_inputs(8, 6, 5);
  const DeviceOutput a = dev->forward(x, true), b = dev->forward(x, true);
  test::expect_bitwise(a.out, b.out, "output");
  for (size_t l = 0; l < a.sums.size(); ++l) test::expect_bitwise(a.sums[l], b.sums[l], "sum");
}

TEST_P(DeviceConformance, ForwardPassesEqualTheCallsOneByOne) {
  const SimulatedDeviceOptions o = all_imperfect(8, 2);
  MAKE_OR_SKIP(a, small_arch(), o);
  MAKE_OR_SKIP(b, small_arch(), o);
  const Network net = make_net(small_arch(), 8);
  a->program(net);
  b->program(net);
  const Mat x = make_inputs(130, 6, 8);  // three 64-row blocks, the last ragged
  a->forward(x, false);                  // passes continue the call count
  b->forward(x, false);
  const std::vector<Mat> outs = a->forward_passes(x, 3);
  ASSERT_EQ(outs.size(), 3u);
  for (const Mat& out : outs) test::expect_bitwise(out, b->forward(x, false).out, "pass output");
  EXPECT_GT((outs[0] - outs[1]).cwiseAbs().maxCoeff(), 0.0f);  // fresh noise per pass
  EXPECT_EQ(a->counters().passes, b->counters().passes);
  EXPECT_EQ(a->counters().forwards, b->counters().forwards);
}

TEST_P(DeviceConformance, CountersAreExact) {
  MAKE_OR_SKIP(dev, small_arch(), SimulatedDeviceOptions{});
  EXPECT_THROW(dev->forward(make_inputs(9, 6, 6), false), InputError);  // not counted
  dev->program(make_net(small_arch(), 6));
  dev->forward(make_inputs(4, 6, 6), false);
  dev->forward(make_inputs(7, 6, 7), true);
  EXPECT_THROW(dev->forward(make_inputs(5, 2, 8), false), InputError);  // not counted
  EXPECT_THROW(dev->program(make_net(small_arch(Activation::kTanh), 6)), InputError);  // neither
  dev->program(make_net(small_arch(), 7));
  dev->forward(make_inputs(1, 6, 9), true);
  dev->forward(make_inputs(0, 6, 9), false);  // an empty batch is a forward of no samples
  const DeviceCounters c = dev->counters();
  EXPECT_EQ(c.passes, 12u);
  EXPECT_EQ(c.forwards, 4u);
  EXPECT_EQ(c.programmings, 2u);
}

TEST_P(DeviceConformance, NonFiniteInputsAreRefused) {
  MAKE_OR_SKIP(dev, small_arch(), SimulatedDeviceOptions{});
  dev->program(make_net(small_arch(), 1));
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    Mat x = make_inputs(3, 6, 1);
    x(2, 4) = bad;
    EXPECT_THROW(dev->forward(x, false), InputError);
  }
  EXPECT_EQ(dev->counters().forwards, 0u);
  EXPECT_EQ(dev->forward(make_inputs(3, 6, 1), false).out.rows(), 3);  // still usable
}

// A std so large that the drawn noise overflows float32 gives an error, never NaN or inf
// as a measurement (which calibration would read as a noiseless chip).
TEST_P(DeviceConformance, OverflowingNoiseIsAnErrorNotAnOutput) {
  for (NoiseSite site : {NoiseSite::kSumAdd, NoiseSite::kWeight, NoiseSite::kOutAdd}) {
    SimulatedDeviceOptions o;
    o.noise = NoiseModel::uniform(3, site, 1e300);
    MAKE_OR_SKIP(dev, small_arch(), o);
    dev->program(make_net(small_arch(), 1));
    for (bool taps : {true, false}) {
      SCOPED_TRACE(to_string(site));
      // More than one block of rows.
      EXPECT_INPUT_ERROR(dev->forward(make_inputs(70, 6, 1), taps),
                         "the simulated noise overflowed float32");
    }
    EXPECT_EQ(dev->counters().forwards, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(All, DeviceConformance,
                         ::testing::Values(Impl::kSimulated, Impl::kGiftServer,
                                           Impl::kPythonServer),
                         [](const ::testing::TestParamInfo<Impl>& p) {
                           return std::string(impl_name(p.param));
                         });

// The reference server is the SimulatedDevice it wraps, bit for bit: same sums, same
// outputs, same counters, for a sequence of programmings and forwards (with every noise
// site, saturation and fixed errors active, batches across the 64-row blocks, 2 threads).
TEST(ExternalDevice, BitwiseSameAsTheSimulatedDeviceItWraps) {
  const Architecture arch = small_arch();
  const SimulatedDeviceOptions o = all_imperfect(11, 2);
  SimulatedDevice sim(arch, o);
  ExternalDevice ext(test::gift_server_argv(arch, o));
  struct Step {
    uint64_t net_seed;  // 0 = no programming before this forward
    int rows;
    bool taps;
  };
  const Step steps[] = {{1, 5, true}, {0, 5, true}, {0, 70, true},   {2, 3, false},
                        {0, 1, true}, {0, 0, true}, {3, 130, false}, {0, 9, true}};
  uint32_t stream = 0;
  for (const Step& s : steps) {
    if (s.net_seed) {
      Network net = make_net(arch, s.net_seed);
      net.params() *= 1.5f;  // some weights beyond w_max: the chip clips them
      sim.program(net);
      ext.program(net);
    }
    const Mat x = make_inputs(s.rows, 6, ++stream);
    const DeviceOutput a = sim.forward(x, s.taps), b = ext.forward(x, s.taps);
    const std::string at = "step " + std::to_string(stream);
    ASSERT_EQ(a.sums.size(), b.sums.size()) << at;
    for (size_t l = 0; l < a.sums.size(); ++l) test::expect_bitwise(b.sums[l], a.sums[l], at);
    test::expect_bitwise(b.out, a.out, at);
  }
  EXPECT_EQ(ext.counters().passes, sim.counters().passes);
  EXPECT_EQ(ext.counters().forwards, sim.counters().forwards);
  EXPECT_EQ(ext.counters().programmings, sim.counters().programmings);
}

// The Python example, written from docs/device-protocol.md alone, computes what a
// noiseless SimulatedDevice computes (to float32 rounding: |a - b| <= 1e-5 max(1, |b|)).
TEST(PythonExampleServer, MatchesANoiselessSimulatedDevice) {
  if (!test::python_numpy_available()) GTEST_SKIP() << "/usr/bin/python3 with numpy is missing";
  for (Activation act :
       {Activation::kRelu, Activation::kTanh, Activation::kSigmoid, Activation::kLinear}) {
    const Architecture arch = small_arch(act, 0.8);
    SimulatedDevice sim(arch, SimulatedDeviceOptions{});
    ExternalDevice py(test::python_server_argv(arch, true));
    Network net = make_net(arch, 21);
    net.params() *= 2.0f;  // beyond w_max: both must clip
    sim.program(net);
    py.program(net);
    const Mat x = make_inputs(9, 6, 21);
    const DeviceOutput a = sim.forward(x, true), b = py.forward(x, true);
    ASSERT_EQ(b.sums.size(), a.sums.size());
    std::vector<std::pair<const Mat*, const Mat*>> pairs = {{&b.out, &a.out}};
    for (size_t l = 0; l < a.sums.size(); ++l) pairs.emplace_back(&b.sums[l], &a.sums[l]);
    for (const auto& [got, want] : pairs) {
      ASSERT_EQ(got->rows(), want->rows());
      ASSERT_EQ(got->cols(), want->cols());
      for (Eigen::Index i = 0; i < want->size(); ++i) {
        const float w = want->data()[i];
        EXPECT_NEAR(got->data()[i], w, 1e-5 * std::max(1.0f, std::abs(w))) << to_string(act);
      }
    }
  }
}

// A simulated chip whose output (or one layer's sums) holds `bad` at (row 1, column 2) of every
// forward: what a broken device of any transport sends.
class PoisonedDevice : public Device {
 public:
  PoisonedDevice(float bad, int layer)
      : sim_(small_arch(), SimulatedDeviceOptions{}), bad_(bad), layer_(layer) {}
  DeviceInfo info() const override {
    DeviceInfo i = sim_.info();
    i.name = "poisoned";
    return i;
  }
  void program(const Network& net) override { sim_.program(net); }
  DeviceOutput forward(const Mat& x, bool taps) override {
    DeviceOutput o = sim_.forward(x, taps);
    if (layer_ >= 0 && !taps) return o;  // no sums to poison
    Mat& m = layer_ < 0 ? o.out : o.sums.at(static_cast<size_t>(layer_));
    m(1, 2) = bad_;
    return o;
  }
  DeviceCounters counters() const override { return sim_.counters(); }

 private:
  SimulatedDevice sim_;
  float bad_;
  int layer_;  // -1: the final output
};

// CheckedDevice, the one place every device kind is checked: NaN or inf in a forward's output or
// sums, in forward_passes, or in the weights to program, is an error naming the device, the
// matrix, its row and column; finite calls pass through unchanged.
TEST(CheckedDevice, RefusesNaNAndInfAndPassesTheRestThrough) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const Mat x = make_inputs(3, 6, 1);
  for (float bad : {nan, inf, -inf}) {
    const std::string word = std::isnan(bad) ? "NaN" : "inf";
    PoisonedDevice out_bad(bad, -1), sum_bad(bad, 1);
    CheckedDevice a(out_bad), b(sum_bad);
    a.program(make_net(small_arch(), 1));
    b.program(make_net(small_arch(), 1));
    EXPECT_INPUT_ERROR(a.forward(x, false), "device 'poisoned': returned " + word,
                       "in the final output (row 1, column 2)");
    EXPECT_INPUT_ERROR(a.forward(x, true), "in the final output (row 1, column 2)");
    EXPECT_INPUT_ERROR(a.forward_passes(x, 3), "device 'poisoned': returned " + word,
                       "the final output of pass 1 (row 1, column 2)");
    EXPECT_INPUT_ERROR(b.forward(x, true), "device 'poisoned': returned " + word,
                       "in the detected sum of layer 1 (row 1, column 2)");
    EXPECT_NO_THROW(b.forward(x, false));  // the final output is finite
  }
  SimulatedDevice sim(small_arch(), SimulatedDeviceOptions{});
  SimulatedDevice twin(small_arch(), SimulatedDeviceOptions{});
  CheckedDevice checked(sim);
  Network net = make_net(small_arch(), 1);
  net.params()[4] = nan;
  EXPECT_INPUT_ERROR(checked.program(net), "device 'simulated'", "NaN or inf");
  EXPECT_EQ(sim.counters().programmings, 0u);
  checked.program(make_net(small_arch(), 1));
  twin.program(make_net(small_arch(), 1));
  EXPECT_EQ(checked.forward(x, true).out, twin.forward(x, true).out);
  const std::vector<Mat> got = checked.forward_passes(x, 2), want = twin.forward_passes(x, 2);
  EXPECT_EQ(got, want);
  EXPECT_EQ(checked.counters().passes, sim.counters().passes);
}

// Every consumer goes through it: device_accuracy and fine-tuning refuse such a device instead
// of scoring its NaN as wrong answers.
TEST(CheckedDevice, DeviceAccuracyAndFinetuneRefuseANaNDevice) {
  data::Dataset data;
  data.images = make_inputs(20, 6, 3);
  for (int i = 0; i < 20; ++i) data.labels.push_back(i % 3);
  const Network net = make_net(small_arch(), 1);
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    PoisonedDevice dev(bad, -1);
    EXPECT_INPUT_ERROR(device_accuracy(dev, net, data, 2), "device 'poisoned': returned");
    FinetuneOptions o;
    o.calibration.inputs = 4;
    o.calibration.repeats = 2;
    for (const std::string& method : {std::string("none"), std::string("gift")}) {
      Network copy = net;
      EXPECT_INPUT_ERROR(make_method(method)->run(copy, dev, data, data, o),
                         "device 'poisoned': returned");
    }
  }
}

}  // namespace
}  // namespace gift

// Calibration recovers known noise stds, per site alone and combined, and its 95%
// intervals cover the truth at about the nominal rate over many device seeds.
#include "gift/insitu/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/insitu/simulated_device.h"

namespace gift {
namespace {

Network test_net(uint64_t seed) {
  Network net(Architecture::from_string("24-20-16-6", Activation::kRelu, 1.0));
  net.init(seed);
  net.params() *= 2.0f;  // larger weights: well spread features
  net.project();
  for (size_t l = 0; l < net.num_layers(); ++l) {
    auto b = net.bias(l);
    for (Eigen::Index i = 0; i < b.size(); ++i) b[i] = 0.3f * std::sin(1.0f + i + l);
  }
  return net;
}

Mat test_inputs(int n) {
  Mat x(n, 24);
  std::vector<uint32_t> bits(static_cast<size_t>(x.size()));
  fill_uint32(bits.data(), bits.size(), RngStream{3, Purpose::kTest, 0, 0, 0});
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = (bits[static_cast<size_t>(i)] >> 8) / 16777216.0f;
  return x;
}

Calibration run(const NoiseModel& truth, uint64_t device_seed, bool taps = true,
                const NoiseModel& pattern = {}) {
  const Network net = test_net(1);
  SimulatedDeviceOptions so;
  so.noise = truth;
  so.seed = device_seed;
  so.taps = taps;
  SimulatedDevice dev(net.arch(), so);
  CalibrationOptions co;
  co.inputs = 100;
  co.repeats = 16;
  co.seed = device_seed;
  return calibrate(dev, net, test_inputs(100), co, pattern);
}

void expect_recovers(const NoiseModel& truth, const Calibration& c) {
  for (size_t l = 0; l < truth.layers.size(); ++l) {
    for (int s = 0; s < kNumNoiseSites; ++s) {
      const double t = truth.layers[l].at(static_cast<NoiseSite>(s));
      const Estimate& e = c.layers[l].site[s];
      const std::string what = "layer " + std::to_string(l) + " " +
                               to_string(static_cast<NoiseSite>(s)) + "\n" + c.report();
      // A site that is on is found within 25%; one that is off has an interval reaching
      // down to (near) zero: the std of a variance near 0 is poorly determined (a square root).
      // Every interval covers the truth; stds >= 0.1 are found within 25%. (The std of a
      // small variance is poorly determined: it is a square root. Slack: 0.01 in std.)
      EXPECT_LE(e.low, t + 0.01) << what;
      EXPECT_GE(e.high, t - 0.01) << what;
      if (t >= 0.1) EXPECT_NEAR(e.value, t, 0.25 * t) << what;
      EXPECT_LE(e.low, e.value);
      EXPECT_GE(e.high, e.value);
    }
  }
}

TEST(Calibration, RecoversEachSiteAlone) {
  for (int s = 0; s < kNumNoiseSites; ++s) {
    const double std = s == static_cast<int>(NoiseSite::kSumAdd) || s == static_cast<int>(NoiseSite::kOutAdd) ? 0.2 : 0.15;
    const NoiseModel truth = NoiseModel::uniform(3, static_cast<NoiseSite>(s), std);
    SCOPED_TRACE(to_string(static_cast<NoiseSite>(s)));
    expect_recovers(truth, run(truth, 10 + s));
  }
}

TEST(Calibration, RecoversCombinedPerLayerNoise) {
  NoiseModel truth = NoiseModel::none(3);
  truth.layers[0] = {0.10, 0.05, 0.20, 0.10};
  truth.layers[1] = {0.05, 0.10, 0.10, 0.05};
  truth.layers[2] = {0.00, 0.05, 0.30, 0.20};
  const Calibration c = run(truth, 21);
  expect_recovers(truth, c);
  EXPECT_EQ(c.device_passes, 1600u);
}

TEST(Calibration, IntervalsCoverAtAboutTheNominalRate) {
  NoiseModel truth = NoiseModel::none(3);
  for (LayerNoise& l : truth.layers) l = {0.1, 0.0, 0.2, 0.0};
  const int seeds = 40;
  int covered = 0, total = 0;
  for (int seed = 0; seed < seeds; ++seed) {
    const Calibration c = run(truth, 1000 + seed);
    for (size_t l = 0; l < 3; ++l) {
      for (NoiseSite s : {NoiseSite::kWeight, NoiseSite::kSumAdd}) {
        const Estimate& e = c.layers[l].site[static_cast<int>(s)];
        const double t = truth.layers[l].at(s);
        covered += e.low <= t && t <= e.high;
        ++total;
      }
    }
  }
  const double rate = static_cast<double>(covered) / total;
  // 240 intervals at a true rate of 0.95: the binomial 5-sigma band is [0.88, 1.0].
  EXPECT_GE(rate, 0.85) << covered << " of " << total;
  EXPECT_LE(rate, 0.995) << "intervals are suspiciously wide: " << covered << " of " << total;
}

TEST(Calibration, OutputOnlyFitsOneScale) {
  const NoiseModel pattern = NoiseModel::uniform(3, NoiseSite::kSumAdd, 0.1);
  const Calibration c = run(pattern.scaled(3.0), 5, /*taps=*/false, pattern);
  EXPECT_FALSE(c.per_layer);
  EXPECT_NEAR(c.scale.value, 3.0, 0.3) << c.report();
  EXPECT_LE(c.scale.low, 3.0);
  EXPECT_GE(c.scale.high, 3.0);
  EXPECT_NEAR(c.estimate().layers[1].sum_add, 0.3, 0.03);
}

TEST(Calibration, StaticErrorsShowInTheResidualMean) {
  const Network net = test_net(1);
  SimulatedDeviceOptions so;
  so.noise = NoiseModel::uniform(3, NoiseSite::kSumAdd, 0.1);
  SimulatedDevice clean(net.arch(), so);
  so.imperfections.gain_std = 0.05;
  SimulatedDevice faulty(net.arch(), so);
  CalibrationOptions co;
  const Calibration a = calibrate(clean, net, test_inputs(100), co);
  const Calibration b = calibrate(faulty, net, test_inputs(100), co);
  EXPECT_LT(a.layers[0].static_error_index, 2.0);
  EXPECT_GT(b.layers[0].static_error_index, 5.0);
}

// A chip whose readings pass through `edit` (a faulty detector, a buggy server).
class EditedDevice : public Device {
 public:
  EditedDevice(Device& d, std::function<void(Mat&)> edit) : d_(d), edit_(std::move(edit)) {}
  DeviceInfo info() const override { return d_.info(); }
  void program(const Network& net) override { d_.program(net); }
  DeviceOutput forward(const Mat& x, bool taps) override {
    DeviceOutput out = d_.forward(x, taps);
    for (Mat& m : out.sums) edit_(m);
    edit_(out.out);
    return out;
  }
  DeviceCounters counters() const override { return d_.counters(); }

 private:
  Device& d_;
  std::function<void(Mat&)> edit_;
};

std::string calibration_error(Device& dev, const Network& net) {
  try {
    CalibrationOptions co;
    co.inputs = 20;
    co.repeats = 4;
    co.bootstrap = 20;
    const Calibration c = calibrate(dev, net, test_inputs(20), co);
    ADD_FAILURE() << "calibrated to " << c.estimate().describe();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// Non-finite readings never become an estimate ("noiseless", or null in the JSON).
TEST(Calibration, NonFiniteDeviceOutputIsAnErrorNotAnEstimate) {
  const Network net = test_net(1);
  for (bool taps : {true, false}) {
    SimulatedDeviceOptions so;
    so.noise = NoiseModel::uniform(3, NoiseSite::kSumAdd, 0.1);
    so.taps = taps;
    SimulatedDevice sim(net.arch(), so);
    for (float bad :
         {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      EditedDevice dev(sim, [bad](Mat& m) { m(1, 0) = bad; });
      const std::string e = calibration_error(dev, net);
      EXPECT_NE(e.find("calibration: the device returned NaN or inf in"), std::string::npos) << e;
    }
    // A simulated chip at noise 1e300: the device itself refuses to answer.
    so.noise = NoiseModel::uniform(3, NoiseSite::kSumAdd, 1e300);
    SimulatedDevice huge(net.arch(), so);
    const std::string e = calibration_error(huge, net);
    EXPECT_NE(e.find("the simulated noise overflowed float32"), std::string::npos) << e;
  }
}

// Readings near the top of float32: the fit either overflows (an error) or gives finite
// numbers, and never null in its JSON.
TEST(Calibration, HugeFiniteReadingsGiveAnErrorOrFiniteNumbers) {
  const Network net = test_net(1);
  for (bool taps : {true, false}) {
    SimulatedDeviceOptions so;
    so.noise = NoiseModel::uniform(3, NoiseSite::kSumAdd, 0.1);
    so.taps = taps;
    SimulatedDevice sim(net.arch(), so);
    EditedDevice dev(sim, [](Mat& m) { m *= 1e37f; });
    try {
      CalibrationOptions co;
      co.inputs = 20;
      co.repeats = 4;
      co.bootstrap = 20;
      const Calibration c = calibrate(dev, net, test_inputs(20), co);
      const std::string json = c.to_json().dump();
      EXPECT_EQ(json.find("null"), std::string::npos) << json;
      EXPECT_NE(c.estimate().describe(), "noiseless");
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("calibration: the fit overflowed"), std::string::npos)
          << e.what();
    }
  }
}

TEST(Calibration, AnEstimateHoldingNaNIsNotDescribedAsNoiseless) {
  NoiseModel m = NoiseModel::none(3);
  m.layers[1].sum_add = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(m.describe().find("nan"), std::string::npos) << m.describe();
}

}  // namespace
}  // namespace gift

// CalibrationOptions' tunables (the IRLS fit's floor and iterations, the output-only grid):
// checked by validate(), and a value other than the default changes what calibrate() does.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../test_util.h"
#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/insitu/calibration.h"
#include "gift/insitu/simulated_device.h"

namespace gift {
namespace {

Network small_net() {
  Network net(Architecture::from_string("16-12-6", Activation::kRelu, 1.0));
  net.init(3);
  return net;
}

Mat inputs(int n) {
  Mat x(n, 16);
  std::vector<uint32_t> bits(static_cast<size_t>(x.size()));
  fill_uint32(bits.data(), bits.size(), RngStream{4, Purpose::kTest, 0, 0, 0});
  for (Eigen::Index i = 0; i < x.size(); ++i)
    x.data()[i] = (bits[static_cast<size_t>(i)] >> 8) / 16777216.0f;
  return x;
}

Calibration run(const CalibrationOptions& co, bool taps, const NoiseModel& truth) {
  const Network net = small_net();
  SimulatedDeviceOptions so;
  so.noise = truth;
  so.seed = 2;
  so.taps = taps;
  SimulatedDevice dev(net.arch(), so);
  return calibrate(dev, net, inputs(co.inputs), co);
}

// Every layer's per-pass estimates and their intervals, as one list.
std::vector<double> values(const Calibration& c) {
  std::vector<double> v;
  for (const LayerCalibration& l : c.layers) {
    for (const Estimate& e : l.site) v.insert(v.end(), {e.mean, e.low, e.high});
  }
  return v;
}

TEST(CalibrationOptions, ValidateRefusesBadTunablesNamingThem) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto refused = [](auto change, const std::string& name) {
    CalibrationOptions co;
    change(co);
    EXPECT_INPUT_ERROR(co.validate(), "calibration: " + name);
  };
  refused([](CalibrationOptions& c) { c.irls_floor = 0; }, "irls_floor");
  refused([&](CalibrationOptions& c) { c.irls_floor = nan; }, "irls_floor");
  refused([](CalibrationOptions& c) { c.irls_iterations = -1; }, "irls_iterations");
  refused([](CalibrationOptions& c) { c.output_min_scale = -1e-3; }, "output_min_scale");
  refused([](CalibrationOptions& c) { c.output_max_scale = 1e-4; }, "output_max_scale");
  refused([](CalibrationOptions& c) { c.output_points_per_decade = 0; },
          "output_points_per_decade");
  EXPECT_NO_THROW(CalibrationOptions{}.validate());
}

// Taps: with no reweighting (irls_iterations 0) the per-pass fit keeps its first, unweighted
// solution, which differs from the default's; the default is what it was (the same seeds give
// the same estimate twice).
TEST(CalibrationOptions, IrlsTunablesChangeTheTapsFit) {
  CalibrationOptions co;
  co.inputs = 60;
  co.repeats = 8;
  const NoiseModel truth = NoiseModel::uniform(2, NoiseSite::kSumAdd, 0.1);
  const std::vector<double> a = values(run(co, true, truth));
  EXPECT_EQ(values(run(co, true, truth)), a);
  co.irls_iterations = 0;
  EXPECT_NE(values(run(co, true, truth)), a);
  co.irls_iterations = 10;
  co.irls_floor = 10.0;  // every weight the floor's: an unweighted fit
  EXPECT_NE(values(run(co, true, truth)), a);
}

// Without taps: the grid's bound is the option's (the refusal names it), and a finer grid
// moves the interpolated scale.
TEST(CalibrationOptions, OutputOnlyGridIsTheOptions) {
  CalibrationOptions co;
  co.inputs = 40;
  co.repeats = 8;
  co.bootstrap = 50;
  const NoiseModel truth = NoiseModel::uniform(2, NoiseSite::kSumAdd, 0.3);
  const Calibration base = run(co, false, truth);
  EXPECT_NEAR(base.scale.mean, 0.3, 0.1) << base.report();
  co.output_max_scale = 0.05;
  EXPECT_INPUT_ERROR(run(co, false, truth), "0.05 x the noise pattern", "output_max_scale");
  co.output_max_scale = 1e5;
  co.output_points_per_decade = 3;
  const Calibration coarse = run(co, false, truth);
  EXPECT_NE(coarse.scale.mean, base.scale.mean);
  EXPECT_NEAR(coarse.scale.mean, 0.3, 0.15) << coarse.report();
}

}  // namespace
}  // namespace gift

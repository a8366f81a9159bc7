// What programming a device does with its static imperfections: weights clipped, then quantised
// (2^B levels over each layer's range, or a fixed mid-tread DAC), nearest-neighbour crosstalk,
// then the per-weight, per-row and per-column gain errors; biases set exactly; no draws without
// a gain error, and each error's draws independent of the others'.
#include "gift/onn/imperfections.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../test_util.h"
#include "gift/core/rng.h"

namespace gift {
namespace {

// A network whose weights spread over [-w_max, w_max], some beyond it (to be clipped), with
// non-zero biases.
Network spread_net(double w_max) {
  Network net(Architecture::from_string("9-7-5", Activation::kRelu, w_max));
  for (size_t l = 0; l < net.num_layers(); ++l) {
    auto w = net.weight(l);
    for (Eigen::Index i = 0; i < w.size(); ++i) {
      w.data()[i] = static_cast<float>(1.3 * w_max * std::sin(0.37 * static_cast<double>(i) + l));
    }
    auto b = net.bias(l);
    for (Eigen::Index i = 0; i < b.size(); ++i) b[i] = 0.1f * static_cast<float>(i + 1);
  }
  return net;
}

TEST(Quantisation, WeightsLieOnTheLayersGridNearTheirClippedValue) {
  const double w_max = 0.8;
  const Network net = spread_net(w_max);
  for (int bits : {1, 2, 3, 6, 12}) {
    SCOPED_TRACE("bits " + std::to_string(bits));
    Imperfections imp;
    imp.weight_bits = bits;
    const Network q = apply_imperfections(net, imp, 1);
    const double levels = std::ldexp(1.0, bits) - 1;
    for (size_t l = 0; l < net.num_layers(); ++l) {
      const auto w = net.weight(l), wq = q.weight(l);
      // The layer's range r is its largest clipped |weight| (here w_max: some weights are beyond).
      const double r = w_max;
      const double step = 2 * r / levels;
      std::set<float> values;
      for (Eigen::Index i = 0; i < w.size(); ++i) {
        const double clipped = std::clamp<double>(w.data()[i], -w_max, w_max);
        const double k = (wq.data()[i] + r) / step;  // the level's index: an integer
        // Up to the float rounding of the stored weight (a few ulp of r, in steps).
        const double tol = 4 * FLT_EPSILON * r / step;
        EXPECT_NEAR(k, std::round(k), tol) << "layer " << l << " weight " << i;
        EXPECT_GE(k, -tol);
        EXPECT_LE(k, levels + tol);
        EXPECT_LE(std::abs(wq.data()[i] - clipped), step / 2 + 1e-6) << "layer " << l;
        values.insert(wq.data()[i]);
      }
      EXPECT_LE(values.size(), static_cast<size_t>(levels + 1));
      // The extremes of the range are levels themselves.
      EXPECT_FLOAT_EQ(wq.cwiseAbs().maxCoeff(), static_cast<float>(r));
      EXPECT_TRUE(q.bias(l) == net.bias(l)) << "biases are set exactly";
    }
  }
}

TEST(Quantisation, OneBitGivesTheSignTimesTheRangeAndBBitsAreWithinHalfAStep) {
  Network net = spread_net(1.0);
  net.project();
  Imperfections imp;
  imp.weight_bits = 1;
  const Network q = apply_imperfections(net, imp, 1);
  for (size_t l = 0; l < net.num_layers(); ++l) {
    const float r = net.weight(l).cwiseAbs().maxCoeff();
    for (Eigen::Index i = 0; i < q.weight(l).size(); ++i) {
      const float w = net.weight(l).data()[i];
      if (w != 0) {
        EXPECT_EQ(q.weight(l).data()[i], w > 0 ? r : -r) << "weight " << i;
      }
    }
  }
  for (int bits = 1; bits <= 10; ++bits) {
    imp.weight_bits = bits;
    const Network qb = apply_imperfections(net, imp, 1);
    const double err = (qb.params() - net.params()).cwiseAbs().maxCoeff();
    EXPECT_LE(err, 1.0 / (std::ldexp(1.0, bits) - 1) + 1e-6) << "bits " << bits;  // half a step
  }
}

TEST(Quantisation, IsDeterministicAndLeavesAZeroLayerAlone) {
  Network net = spread_net(1.0);
  Imperfections imp;
  imp.weight_bits = 4;
  // Without a gain error, programming draws nothing: the seed does not matter.
  EXPECT_TRUE(apply_imperfections(net, imp, 1).params() ==
              apply_imperfections(net, imp, 2).params());
  net.weight(1).setZero();
  const Network q = apply_imperfections(net, imp, 1);
  EXPECT_TRUE(q.weight(1).isZero(0));
  EXPECT_TRUE(q.params().allFinite());
  // No imperfections: the projected network, bit for bit.
  Network projected = net;
  projected.project();
  EXPECT_TRUE(apply_imperfections(net, Imperfections{}, 1).params() == projected.params());
}

// Sample mean and std (n - 1) of `x`.
std::pair<double, double> mean_std(const std::vector<double>& x) {
  double m = 0;
  for (double v : x) m += v;
  m /= static_cast<double>(x.size());
  double ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  return {m, std::sqrt(ss / static_cast<double>(x.size() - 1))};
}

// A network with wide layers (many rows and columns for the statistics), every weight non-zero
// and inside [-w_max, w_max].
Network wide_net() {
  Network net(Architecture::from_string("300-400-200", Activation::kRelu, 1.0));
  for (size_t l = 0; l < net.num_layers(); ++l) {
    auto w = net.weight(l);
    for (Eigen::Index i = 0; i < w.size(); ++i) {
      const double v = 0.9 * std::sin(0.37 * static_cast<double>(i) + static_cast<double>(l));
      w.data()[i] = static_cast<float>(v >= 0 ? v + 0.01 : v - 0.01);
    }
  }
  return net;
}

// The shared gains of a row (rows = true) or column error: each row's (column's) ratios W'/W
// must agree up to float rounding; appends gain - 1 of every row (column) of every layer.
void shared_gains(const Network& net, const Network& dev, bool rows,
                  std::vector<double>* gains = nullptr) {
  for (size_t l = 0; l < net.num_layers(); ++l) {
    const auto w = net.weight(l), wd = dev.weight(l);
    const Eigen::Index outer = rows ? w.rows() : w.cols(), inner = rows ? w.cols() : w.rows();
    for (Eigen::Index a = 0; a < outer; ++a) {
      const auto at = [&](const auto& m, Eigen::Index b) -> double {
        return rows ? m(a, b) : m(b, a);
      };
      const double ratio = at(wd, 0) / at(w, 0);
      for (Eigen::Index b = 1; b < inner; ++b) {
        ASSERT_NEAR(at(wd, b) / at(w, b), ratio, 4 * FLT_EPSILON * std::abs(ratio))
            << (rows ? "row " : "column ") << a << " of layer " << l << ", entry " << b;
      }
      if (gains) gains->push_back(ratio - 1);
    }
  }
}

// The sample of n gains has the requested std s: mean within 4 s / sqrt(n) of 0, sample std
// within 4 s / sqrt(2 (n - 1)) of s (the normal approximation of their sampling errors).
void expect_gain_std(const std::vector<double>& g, double s) {
  ASSERT_GT(g.size(), 100u);
  const auto [m, sd] = mean_std(g);
  const double n = static_cast<double>(g.size());
  EXPECT_LE(std::abs(m), 4 * s / std::sqrt(n)) << "n " << n;
  EXPECT_LE(std::abs(sd - s), 4 * s / std::sqrt(2 * (n - 1))) << "n " << n << ", std " << sd;
}

TEST(RowGainError, IsSharedAlongEachRowWithTheRequestedStd) {
  const Network net = wide_net();
  Imperfections imp;
  imp.row_gain_std = 0.05;
  const Network dev = apply_imperfections(net, imp, 7);
  std::vector<double> g;
  ASSERT_NO_FATAL_FAILURE(shared_gains(net, dev, true, &g));
  EXPECT_EQ(g.size(), 600u);  // 400 + 200 rows
  expect_gain_std(g, 0.05);
  // Not shared along a column: the first column's ratios differ between rows.
  EXPECT_NE(dev.weight(0)(0, 0) / net.weight(0)(0, 0), dev.weight(0)(1, 0) / net.weight(0)(1, 0));
  for (size_t l = 0; l < net.num_layers(); ++l) EXPECT_TRUE(dev.bias(l) == net.bias(l));
  // Another device seed, other gains; the same seed, the same device.
  EXPECT_FALSE(apply_imperfections(net, imp, 8).params() == dev.params());
  EXPECT_TRUE(apply_imperfections(net, imp, 7).params() == dev.params());
}

TEST(ColumnGainError, IsSharedAlongEachColumnWithTheRequestedStd) {
  const Network net = wide_net();
  Imperfections imp;
  imp.col_gain_std = 0.03;
  const Network dev = apply_imperfections(net, imp, 7);
  std::vector<double> g;
  ASSERT_NO_FATAL_FAILURE(shared_gains(net, dev, false, &g));
  EXPECT_EQ(g.size(), 700u);  // 300 + 400 columns
  expect_gain_std(g, 0.03);
  EXPECT_NE(dev.weight(0)(0, 0) / net.weight(0)(0, 0), dev.weight(0)(0, 1) / net.weight(0)(0, 1));
  for (size_t l = 0; l < net.num_layers(); ++l) EXPECT_TRUE(dev.bias(l) == net.bias(l));
}

TEST(RowAndColumnGainErrors, DrawFromTheirOwnStreamsAndLeaveThePerWeightDrawsAlone) {
  const Network net = wide_net();
  Imperfections gain;
  gain.gain_std = 0.02;
  const Network base = apply_imperfections(net, gain, 5);
  Imperfections more = gain;
  more.row_gain_std = 0.05;
  const Network with_rows = apply_imperfections(net, more, 5);
  // On top of the same per-weight errors: W(gain, row) / W(gain) is one number per row.
  ASSERT_NO_FATAL_FAILURE(shared_gains(base, with_rows, true));
  more.col_gain_std = 0.04;
  const Network with_both = apply_imperfections(net, more, 5);
  ASSERT_NO_FATAL_FAILURE(shared_gains(with_rows, with_both, false));
  // The row and column errors are different draws (different streams), not one shared vector.
  Imperfections rows, cols;
  rows.row_gain_std = cols.col_gain_std = 0.05;
  const float r0 = apply_imperfections(net, rows, 5).weight(0)(0, 0) / net.weight(0)(0, 0);
  const float c0 = apply_imperfections(net, cols, 5).weight(0)(0, 0) / net.weight(0)(0, 0);
  EXPECT_NE(r0, c0);
}

// The per-weight gain error and the layer-range DAC as they were before the weight bank's errors
// existed, written out here: the defaults of the new fields must reproduce them bit for bit.
Network previous_apply(const Network& net, double gain_std, int bits, uint64_t seed) {
  Network out = net;
  out.project();
  for (size_t l = 0; l < out.num_layers(); ++l) {
    Eigen::Map<MatT<float>> w = out.weight(l);
    if (bits > 0) {
      const double range = w.cwiseAbs().maxCoeff();
      const double step = 2 * range / (std::ldexp(1.0, bits) - 1);
      for (Eigen::Index i = 0; i < w.size(); ++i) {
        w.data()[i] = static_cast<float>(-range + std::round((w.data()[i] + range) / step) * step);
      }
    }
    if (gain_std > 0) {
      std::vector<float> delta(static_cast<size_t>(w.size()));
      fill_normal(delta.data(), delta.size(),
                  RngStream{seed, Purpose::kFabrication, static_cast<uint32_t>(l), 0, 0});
      for (Eigen::Index i = 0; i < w.size(); ++i) {
        w.data()[i] *= 1.0f + static_cast<float>(gain_std) * delta[static_cast<size_t>(i)];
      }
    }
  }
  return out;
}

TEST(WeightBankErrors, DefaultsLeaveEarlierResultsBitIdentical) {
  const Network net = spread_net(0.8);
  for (const auto& [gain_std, bits] :
       std::vector<std::pair<double, int>>{{0.05, 0}, {0.0, 6}, {0.03, 4}, {0.0, 0}}) {
    SCOPED_TRACE("gain_std " + std::to_string(gain_std) + ", bits " + std::to_string(bits));
    Imperfections imp;
    imp.gain_std = gain_std;
    imp.weight_bits = bits;
    EXPECT_TRUE(apply_imperfections(net, imp, 11).params() ==
                previous_apply(net, gain_std, bits, 11).params());
  }
}

TEST(Crosstalk, AddsKappaTimesTheFourProgrammedNeighboursExactly) {
  Network net(Architecture::from_string("3-3-2", Activation::kRelu, 1.0));
  net.weight(0) << 0.1f, 0.2f, 0.3f,  //
      0.4f, 0.5f, 0.6f,               //
      0.7f, 0.8f, 0.9f;
  net.weight(1) << 1.0f, 0.0f, 0.0f,  // 2 x 3: only edges, and a zero picking up its neighbours
      0.0f, 0.0f, -1.0f;
  net.bias(0) << 0.5f, -0.5f, 0.25f;
  Imperfections imp;
  imp.crosstalk = 0.1;
  const Network dev = apply_imperfections(net, imp, 1);
  // By hand: W'_ij = W_ij + 0.1 (left + right + above + below), edges missing.
  const double want0[3][3] = {
      {0.1 + 0.1 * (0.2 + 0.4), 0.2 + 0.1 * (0.1 + 0.3 + 0.5), 0.3 + 0.1 * (0.2 + 0.6)},
      {0.4 + 0.1 * (0.5 + 0.1 + 0.7), 0.5 + 0.1 * (0.4 + 0.6 + 0.2 + 0.8),
       0.6 + 0.1 * (0.5 + 0.3 + 0.9)},
      {0.7 + 0.1 * (0.8 + 0.4), 0.8 + 0.1 * (0.7 + 0.9 + 0.5), 0.9 + 0.1 * (0.8 + 0.6)}};
  const double want1[2][3] = {{1.0, 0.1, -0.1}, {0.1, -0.1, -1.0}};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(dev.weight(0)(i, j), want0[i][j], 1e-6) << i << j;
  }
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(dev.weight(1)(i, j), want1[i][j], 1e-6) << i << j;
  }
  EXPECT_TRUE(dev.bias(0) == net.bias(0));
  // Deterministic: no draws, so the device seed does not matter.
  EXPECT_TRUE(apply_imperfections(net, imp, 2).params() == dev.params());
}

TEST(FixedDac, LevelsAreMultiplesOfAFixedStepWithZeroALevel) {
  const double w_max = 0.8;
  Network net = spread_net(w_max);
  net.weight(0).data()[3] = 0;  // exact zeros and values under half a step
  net.weight(1).data()[2] = 0;
  net.weight(1).data()[5] = 1e-4f;
  net.weight(1).data()[6] = -1e-4f;
  for (int bits : {2, 3, 6, 12}) {
    SCOPED_TRACE("bits " + std::to_string(bits));
    Imperfections imp;
    imp.weight_bits = bits;
    imp.dac = DacScale::kFixed;
    const Network q = apply_imperfections(net, imp, 1);
    const double k_max = std::ldexp(1.0, bits - 1) - 1;           // 2^B - 1 levels: |k| <= k_max
    const double step = 2 * w_max / (std::ldexp(1.0, bits) - 2);  // = w_max / k_max
    for (size_t l = 0; l < net.num_layers(); ++l) {
      const auto w = std::as_const(net).weight(l);
      const auto wq = q.weight(l);
      std::set<float> values;
      for (Eigen::Index i = 0; i < w.size(); ++i) {
        const double clipped = std::clamp<double>(w.data()[i], -w_max, w_max);
        const double k = wq.data()[i] / step;
        const double tol = 4 * FLT_EPSILON * w_max / step;
        EXPECT_NEAR(k, std::round(k), tol) << "layer " << l << " weight " << i;
        EXPECT_LE(std::abs(k), k_max + tol);
        EXPECT_LE(std::abs(wq.data()[i] - clipped), step / 2 + 1e-6) << "layer " << l;
        if (std::abs(clipped) < step / 2) {
          EXPECT_EQ(wq.data()[i], 0.0f) << "layer " << l << " weight " << i;  // exactly 0
          EXPECT_FALSE(std::signbit(wq.data()[i])) << "+0, not -0";
        }
        values.insert(wq.data()[i]);
      }
      EXPECT_LE(values.size(), static_cast<size_t>(2 * k_max + 1));
      EXPECT_TRUE(q.bias(l) == net.bias(l));
    }
    EXPECT_FLOAT_EQ(q.weight(0).maxCoeff(), static_cast<float>(w_max));  // clipped weights
    EXPECT_FLOAT_EQ(q.weight(0).minCoeff(), static_cast<float>(-w_max));
  }
  // Two bits: the levels -w_max, 0, w_max.
  Network two(Architecture::from_string("4-1", Activation::kLinear, 1.0));
  two.weight(0) << 0.49f, 0.51f, -0.51f, -0.2f;
  Imperfections imp;
  imp.weight_bits = 2;
  imp.dac = DacScale::kFixed;
  const Network q = apply_imperfections(two, imp, 1);
  EXPECT_EQ(q.weight(0)(0, 0), 0.0f);
  EXPECT_EQ(q.weight(0)(0, 1), 1.0f);
  EXPECT_EQ(q.weight(0)(0, 2), -1.0f);
  EXPECT_EQ(q.weight(0)(0, 3), 0.0f);
}

TEST(FixedDac, FullScaleDoesNotMoveWithTheLargestWeight) {
  // The same weights in a network whose largest |weight| is w_max and in one whose largest is
  // 0.3 land on the same levels with a fixed DAC; with the layer's range they do not.
  const double w_max = 1.0;
  Network big = spread_net(w_max);
  big.project();
  Network small = big;
  for (size_t l = 0; l < small.num_layers(); ++l) {
    auto w = small.weight(l);
    for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = std::clamp(w.data()[i], -0.3f, 0.3f);
  }
  Imperfections imp;
  imp.weight_bits = 5;
  for (DacScale dac : {DacScale::kFixed, DacScale::kLayer}) {
    imp.dac = dac;
    const Network qb = apply_imperfections(big, imp, 1), qs = apply_imperfections(small, imp, 1);
    size_t same = 0, compared = 0;
    for (size_t l = 0; l < big.num_layers(); ++l) {
      for (Eigen::Index i = 0; i < big.weight(l).size(); ++i) {
        if (big.weight(l).data()[i] != small.weight(l).data()[i]) continue;  // was clamped
        ++compared;
        same += qb.weight(l).data()[i] == qs.weight(l).data()[i];
      }
    }
    ASSERT_GT(compared, 10u);
    if (dac == DacScale::kFixed) {
      EXPECT_EQ(same, compared) << "a fixed full scale";
    } else {
      EXPECT_LT(same, compared) << "the layer's range moved";
    }
  }
}

TEST(WeightBankErrors, ValidationNamesTheField) {
  const double nan = std::nan("");
  const double inf = HUGE_VAL;
  const auto with = [](auto set) {
    Imperfections imp;
    set(imp);
    return imp;
  };
  for (double bad : {-0.1, nan, inf}) {
    SCOPED_TRACE(bad);
    EXPECT_INPUT_ERROR(with([&](Imperfections& i) { i.row_gain_std = bad; }).validate("dev"), "dev",
                       "row_gain_std");
    EXPECT_INPUT_ERROR(with([&](Imperfections& i) { i.col_gain_std = bad; }).validate("dev"), "dev",
                       "col_gain_std");
    EXPECT_INPUT_ERROR(with([&](Imperfections& i) { i.crosstalk = bad; }).validate("dev"), "dev",
                       "crosstalk");
    EXPECT_INPUT_ERROR(with([&](Imperfections& i) { i.gain_std = bad; }).validate("dev"),
                       "gain_std");
  }
  EXPECT_INPUT_ERROR(with([](Imperfections& i) { i.crosstalk = 0.5; }).validate("dev"), "crosstalk",
                     "[0, 0.5)", "0.5");
  EXPECT_NO_THROW(with([](Imperfections& i) { i.crosstalk = 0.499; }).validate());
  EXPECT_INPUT_ERROR(with([](Imperfections& i) {
                       i.dac = DacScale::kFixed;
                       i.weight_bits = 1;
                     }).validate("dev"),
                     "weight_bits", "fixed");
  EXPECT_NO_THROW(with([](Imperfections& i) { i.dac = DacScale::kFixed; }).validate());
  // apply_imperfections validates too.
  Imperfections bad;
  bad.row_gain_std = -1;
  EXPECT_INPUT_ERROR(apply_imperfections(spread_net(1.0), bad, 1), "row_gain_std");
  // any() sees every error that changes the weights.
  EXPECT_FALSE(Imperfections{}.any());
  EXPECT_TRUE(with([](Imperfections& i) { i.row_gain_std = 0.01; }).any());
  EXPECT_TRUE(with([](Imperfections& i) { i.col_gain_std = 0.01; }).any());
  EXPECT_TRUE(with([](Imperfections& i) { i.crosstalk = 0.01; }).any());
}

TEST(DacScale, NamesRoundTripAndUnknownNamesAreRefused) {
  for (DacScale d : {DacScale::kLayer, DacScale::kFixed})
    EXPECT_EQ(parse_dac_scale(to_string(d)), d);
  EXPECT_STREQ(to_string(DacScale::kFixed), "fixed");
  EXPECT_INPUT_ERROR(parse_dac_scale("Fixed"), "'Fixed'", "layer or fixed");
}

}  // namespace
}  // namespace gift

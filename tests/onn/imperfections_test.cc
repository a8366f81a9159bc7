// What programming a device does with its static imperfections: weights clipped, then quantised
// to 2^B levels over each layer's range; biases set exactly; no draws without a gain error.
#include "gift/onn/imperfections.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <set>
#include <string>

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

}  // namespace
}  // namespace gift

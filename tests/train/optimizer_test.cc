// The optimizer step against the textbook update written as a plain double loop, to float
// rounding, for Adam and SGD with weight decay over several steps; bit for bit the same for any
// thread count, also with subnormal gradients and moments in either subnormal mode of the caller
// and of OpenMP's workers; and its option checks.
#include "gift/train/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../test_util.h"
#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/core/threads.h"
#include "worker_fp_mode.h"

namespace gift {
namespace {

// The reference: one scalar loop in double.
void reference_step(VecD& p, const VecD& grad, VecD& m, VecD& v, int64_t step,
                    const OptimizerOptions& o) {
  const double wd = o.weight_decay;
  if (o.kind == OptimizerKind::kSgd) {
    const double mu = o.momentum, lr = o.lr;
    for (Eigen::Index i = 0; i < p.size(); ++i) {
      const double g = grad[i] + wd * p[i];
      m[i] = mu * m[i] + g;
      p[i] -= lr * m[i];
    }
    return;
  }
  const double b1 = o.beta1, b2 = o.beta2;
  const double c1 = 1 - std::pow(o.beta1, static_cast<double>(step));
  const double c2 = 1 - std::pow(o.beta2, static_cast<double>(step));
  const double lr = o.lr * std::sqrt(c2) / c1;
  const double eps = o.eps * std::sqrt(c2);
  for (Eigen::Index i = 0; i < p.size(); ++i) {
    const double g = grad[i] + wd * p[i];
    m[i] = b1 * m[i] + (1 - b1) * g;
    v[i] = b2 * v[i] + (1 - b2) * g * g;
    p[i] -= lr * m[i] / (std::sqrt(v[i]) + eps);
  }
}

Vec normals(Eigen::Index n, uint32_t stream) {
  Vec x(n);
  fill_normal(x.data(), static_cast<size_t>(n), RngStream{17, Purpose::kTest, stream, 0, 0});
  return x;
}

bool same(const Vec& a, const Vec& b) {
  // (memcmp on an empty vector's null data would be undefined: GCC then drops null checks)
  return a.size() == b.size() &&
         (a.size() == 0 ||
          std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.size())) == 0);
}

void expect_matches_reference(const OptimizerOptions& o) {
  const Eigen::Index n = 40000;  // several chunks of the threaded step and a ragged end
  Vec first;
  for (int threads : {1, 2, 3}) {
    Vec p = normals(n, 0);
    VecD q = p.cast<double>(), m = VecD::Zero(n), v = VecD::Zero(n);
    OptimizerState s;
    for (int64_t step = 1; step <= 4; ++step) {
      const Vec g = normals(n, static_cast<uint32_t>(step));
      optimizer_step(p, g, s, o, threads);
      reference_step(q, g.cast<double>(), m, v, step, o);
      const double err = (p.cast<double>() - q).cwiseAbs().maxCoeff();
      ASSERT_LT(err, 1e-6) << to_string(o.kind) << ", threads " << threads << ", step " << step;
    }
    EXPECT_EQ(s.step, 4);
    EXPECT_GT((p.cast<double>() - normals(n, 0).cast<double>()).norm(), 0);  // it moved
    if (first.size() == 0) first = p;
    EXPECT_TRUE(same(p, first)) << "threads " << threads << " differ from 1 thread";
  }
}

TEST(Optimizer, AdamIsTheTextbookUpdateForAnyThreadCount) {
  OptimizerOptions o;
  o.lr = 3e-3;
  o.weight_decay = 1e-2;
  expect_matches_reference(o);
}

TEST(Optimizer, SgdWithMomentumIsTheTextbookUpdateForAnyThreadCount) {
  OptimizerOptions o;
  o.kind = OptimizerKind::kSgd;
  o.lr = 0.05;
  o.momentum = 0.8;
  o.weight_decay = 1e-3;
  expect_matches_reference(o);
}

// Parameters and moments after three steps from tiny parameters with gradients whose scales
// cycle through normal, tiny (squares subnormal) and subnormal, over more than four chunks of the
// threaded step, in the caller's subnormal mode `flush`.
struct Stepped {
  Vec p, m, v;
};
Stepped subnormal_steps(const OptimizerOptions& o, int threads, bool flush) {
  const Eigen::Index n = 5 * 16384 + 77;
  const float scales[3] = {1.0f, 1e-20f, 1e-39f};
  Vec p = normals(n, 0) * 1e-30f;
  std::vector<Vec> grads;
  for (uint32_t step = 1; step <= 3; ++step) {
    Vec g = normals(n, step);
    for (Eigen::Index i = 0; i < n; ++i) g[i] *= scales[i % 3];  // before FTZ could flush it
    grads.push_back(g);
  }
  OptimizerState s;
  {
    std::unique_ptr<FlushSubnormals> ftz;
    if (flush) ftz = std::make_unique<FlushSubnormals>();
    for (const Vec& g : grads) optimizer_step(p, g, s, o, threads);
  }
  return {p, s.m, s.v};
}

TEST(Optimizer, SubnormalMomentsBitwiseSameForAnyThreadCountInEitherMode) {
  OptimizerOptions adam, sgd;
  adam.weight_decay = 1e-2;
  sgd.kind = OptimizerKind::kSgd;
  sgd.lr = 0.05;
  sgd.momentum = 0.8;
  for (const OptimizerOptions& o : {adam, sgd}) {
    for (bool workers_flush : {false, true}) {
      test::set_worker_subnormal_mode(workers_flush, 4);
      for (bool flush : {true, false}) {
        const Stepped one = subnormal_steps(o, 1, flush);
        for (int threads : {2, 4}) {
          const Stepped many = subnormal_steps(o, threads, flush);
          const std::string what = std::string(to_string(o.kind)) + ", caller " +
                                   (flush ? "flushes" : "keeps") + " subnormals, workers " +
                                   (workers_flush ? "flush" : "keep") + ", threads " +
                                   std::to_string(threads);
          EXPECT_TRUE(same(many.p, one.p)) << "parameters: " << what;
          EXPECT_TRUE(same(many.m, one.m)) << "first moment: " << what;
          EXPECT_TRUE(same(many.v, one.v)) << "second moment: " << what;
        }
      }
      // The data reaches subnormals: flushing them changes the result.
      EXPECT_FALSE(same(subnormal_steps(o, 1, true).m, subnormal_steps(o, 1, false).m));
    }
  }
  test::set_worker_subnormal_mode(false, 4);
}

TEST(Optimizer, FirstAdamStepMovesEachParameterByAboutTheLearningRate) {
  // With bias correction, step 1 is lr * g / (|g| + eps): a move of lr against the sign of g.
  Vec p = Vec::Zero(3), g(3);
  g << 2.0f, -0.5f, 1e-3f;
  OptimizerState s;
  OptimizerOptions o;
  o.lr = 0.01;
  optimizer_step(p, g, s, o);
  EXPECT_NEAR(p[0], -0.01f, 1e-6f);
  EXPECT_NEAR(p[1], 0.01f, 1e-6f);
  EXPECT_NEAR(p[2], -0.01f, 1e-4f);
}

TEST(Optimizer, ResizedParametersRestartTheState) {
  OptimizerState s;
  Vec p = Vec::Ones(5), g = Vec::Ones(5);
  optimizer_step(p, g, s, OptimizerOptions{});
  optimizer_step(p, g, s, OptimizerOptions{});
  EXPECT_EQ(s.step, 2);
  Vec p2 = Vec::Ones(7), g2 = Vec::Ones(7);
  optimizer_step(p2, g2, s, OptimizerOptions{});
  EXPECT_EQ(s.step, 1);
  EXPECT_EQ(s.m.size(), 7);
  Vec wrong = Vec::Ones(6);
  EXPECT_THROW(optimizer_step(p2, wrong, s, OptimizerOptions{}), InternalError);
}

TEST(Optimizer, BadOptionsNameTheOption) {
  const auto message = [](const OptimizerOptions& o) {
    return test::input_error_message([&] { o.validate(); });
  };
  OptimizerOptions o;
  o.lr = 0;
  EXPECT_NE(message(o).find("lr"), std::string::npos);
  o = OptimizerOptions{};
  o.beta2 = 1;
  EXPECT_NE(message(o).find("beta2"), std::string::npos);
  o = OptimizerOptions{};
  o.eps = std::nan("");
  EXPECT_NE(message(o).find("eps"), std::string::npos);
  o = OptimizerOptions{};
  o.weight_decay = -1;
  EXPECT_NE(message(o).find("weight_decay"), std::string::npos);
  EXPECT_NO_THROW(OptimizerOptions{}.validate());
  EXPECT_EQ(parse_optimizer("sgd"), OptimizerKind::kSgd);
  EXPECT_THROW(parse_optimizer("lbfgs"), InputError);
}

}  // namespace
}  // namespace gift

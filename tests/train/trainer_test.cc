// Training: same seed gives bitwise the same weights with 1 and 2 threads; a run
// resumed after an interruption equals an uninterrupted one; training learns a
// separable synthetic task; evaluation reports a sane interval.
#include "gift/train/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/train/engine.h"
#include "gift/train/evaluate.h"

namespace gift {
namespace {

// Three Gaussian blobs in 8 dimensions, values in [0, 1]-ish.
void blobs(int n, uint64_t seed, Mat* x, std::vector<int>* y) {
  x->resize(n, 8);
  y->resize(static_cast<size_t>(n));
  std::vector<float> z(8);
  for (int i = 0; i < n; ++i) {
    const int c = i % 3;
    (*y)[static_cast<size_t>(i)] = c;
    fill_normal(z.data(), 8, RngStream{seed, Purpose::kTest, static_cast<uint32_t>(i), 0, 0});
    for (int j = 0; j < 8; ++j) (*x)(i, j) = 0.5f + 0.1f * z[j] + (j % 3 == c ? 0.3f : 0.0f);
  }
}

Architecture small_arch() { return Architecture::from_string("8-16-12-3", Activation::kRelu, 1.0); }

TrainOptions options(int threads) {
  TrainOptions o;
  o.epochs = 3;
  o.batch_size = 90;  // not a multiple of the 64-row block: exercises partial blocks
  o.seed = 9;
  o.schedule = LrSchedule::kConstant;
  o.threads = threads;
  o.noise = NoiseModel::none(3);
  o.noise.layers[0] = {0.1, 0.05, 0.2, 0.05};
  o.noise.layers[1] = {0.1, 0.05, 0.2, 0.05};
  return o;
}

TEST(Trainer, BitwiseSameWithOneAndTwoThreads) {
  Mat x;
  std::vector<int> y;
  blobs(300, 1, &x, &y);
  Network a(small_arch()), b(small_arch());
  a.init(3);
  b.init(3);
  TrainState sa, sb;
  train(a, x, y, options(1), sa);
  train(b, x, y, options(2), sb);
  ASSERT_EQ(a.params().size(), b.params().size());
  EXPECT_EQ(0,
            std::memcmp(a.params().data(), b.params().data(), sizeof(float) * a.params().size()));
}

TEST(Engine, GradientBitwiseSameForAnyThreadCount) {
  Mat x;
  std::vector<int> y;
  blobs(200, 2, &x, &y);
  Network net(small_arch());
  net.init(5);
  const NoiseModel noise = options(1).noise;
  const NoiseDraws d{1, Purpose::kTrainNoise, 7, 0};
  Vec g1, g2, g3;
  EngineT<float>(1).loss_and_grad(net, x, y.data(), noise, d, g1);
  EngineT<float>(2).loss_and_grad(net, x, y.data(), noise, d, g2);
  EngineT<float>(5).loss_and_grad(net, x, y.data(), noise, d, g3);
  EXPECT_EQ(0, std::memcmp(g1.data(), g2.data(), sizeof(float) * g1.size()));
  EXPECT_EQ(0, std::memcmp(g1.data(), g3.data(), sizeof(float) * g1.size()));
}

TEST(Trainer, ResumeEqualsUninterrupted) {
  Mat x;
  std::vector<int> y;
  blobs(150, 3, &x, &y);
  Network full(small_arch()), part(small_arch());
  full.init(4);
  part.init(4);
  TrainState s_full, s_part;
  TrainOptions o = options(2);
  o.schedule = LrSchedule::kCosine;  // the schedule depends on the global step
  train(full, x, y, o, s_full);
  TrainCallbacks interrupt;
  interrupt.stop = [] { return true; };  // stop after the first epoch
  train(part, x, y, o, s_part, interrupt);
  EXPECT_EQ(s_part.epochs_done, 1);
  EXPECT_NE(0, std::memcmp(full.params().data(), part.params().data(),
                           sizeof(float) * full.params().size()));
  train(part, x, y, o, s_part);  // continues with epochs 2 and 3
  EXPECT_EQ(s_part.epochs_done, 3);
  EXPECT_EQ(0, std::memcmp(full.params().data(), part.params().data(),
                           sizeof(float) * full.params().size()));
}

TEST(Trainer, LearnsAndRespectsWeightRange) {
  Mat x;
  std::vector<int> y;
  blobs(600, 4, &x, &y);
  Architecture arch = small_arch();
  arch.w_max = 0.3;
  Network net(arch);
  net.init(1);
  TrainOptions o = options(2);
  o.epochs = 15;
  o.batch_size = 50;
  o.optimizer.lr = 3e-3;
  TrainState s;
  const TrainSummary sum = train(net, x, y, o, s);
  ASSERT_FALSE(sum.diverged);
  EXPECT_LT(sum.epochs.back().loss, sum.epochs.front().loss);
  for (size_t l = 0; l < net.num_layers(); ++l)
    EXPECT_LE(net.weight(l).cwiseAbs().maxCoeff(), 0.3f);
  Mat xt;
  std::vector<int> yt;
  blobs(300, 5, &xt, &yt);
  EvalOptions e;
  e.noise = o.noise;
  e.repeats = 5;
  const EvalResult r = evaluate(net, xt, yt, e);
  EXPECT_GT(r.mean, 0.9);
  EXPECT_LE(r.low, r.mean);
  EXPECT_GE(r.high, r.mean);
  EXPECT_EQ(r.accuracies.size(), 5u);
  const EvalResult clean = evaluate(net, xt, yt, EvalOptions{});
  EXPECT_EQ(clean.accuracies.size(), 1u);  // noiseless: one pass
}

TEST(Trainer, SgdWorksAndDivergenceIsReported) {
  Mat x;
  std::vector<int> y;
  blobs(300, 6, &x, &y);
  // The legacy chain: plain SGD on unbounded activations (what this test has always pinned).
  Architecture a = small_arch();
  a.chain = Chain::kLegacy;
  Network net(a);
  net.init(2);
  TrainOptions o = options(1);
  o.optimizer.kind = OptimizerKind::kSgd;
  o.optimizer.lr = 0.05;
  o.epochs = 10;
  TrainState s;
  TrainSummary sum = train(net, x, y, o, s);
  ASSERT_FALSE(sum.diverged);
  EXPECT_LT(sum.epochs.back().loss, 0.5 * sum.epochs.front().loss);
  // A network holding NaN produces a non-finite loss: reported, not thrown.
  net.params()[0] = std::nanf("");
  TrainState s2;
  sum = train(net, x, y, o, s2);
  EXPECT_TRUE(sum.diverged);
  EXPECT_FALSE(sum.message.empty());
}

TEST(Trainer, RejectsBadOptionsAndData) {
  Mat x;
  std::vector<int> y;
  blobs(30, 7, &x, &y);
  Network net(small_arch());
  TrainState s;
  TrainOptions o = options(1);
  o.batch_size = 0;
  EXPECT_THROW(train(net, x, y, o, s), InputError);
  o = options(1);
  o.optimizer.lr = -1;
  EXPECT_THROW(train(net, x, y, o, s), InputError);
  o = options(1);
  o.noise.layers[0].sum_add = -0.5;
  EXPECT_THROW(train(net, x, y, o, s), InputError);
  y.pop_back();
  EXPECT_THROW(train(net, x, y, options(1), s), InputError);
}

// validate() checks without filling anything in; the noise used comes from resolved_noise(),
// zeros when empty, and an empty model trains exactly like an explicit all-zero one.
TEST(Trainer, ValidateChangesNothingAndEmptyNoiseIsZeros) {
  const Architecture arch = small_arch();
  TrainOptions t = options(1);
  t.noise = NoiseModel{};
  t.validate(arch);
  EXPECT_TRUE(t.noise.layers.empty());
  EXPECT_EQ(t.resolved_noise(arch).layers.size(), arch.num_layers());
  EXPECT_FALSE(t.resolved_noise(arch).any());
  t.noise = NoiseModel::uniform(arch.num_layers(), NoiseSite::kSumAdd, 0.2);
  EXPECT_EQ(t.resolved_noise(arch).layers[1].sum_add, 0.2);
  t.noise = NoiseModel::none(arch.num_layers() + 1);
  EXPECT_THROW(t.validate(arch), InputError);

  EvalOptions e;
  e.validate(arch);
  EXPECT_TRUE(e.noise.layers.empty());
  EXPECT_EQ(e.resolved_noise(arch).layers.size(), arch.num_layers());

  Mat x;
  std::vector<int> y;
  blobs(30, 7, &x, &y);
  Network a(arch), b(arch);
  a.init(3);
  b.init(3);
  TrainState sa, sb;
  TrainOptions empty = options(1), zeros = options(1);
  empty.noise = NoiseModel{};
  zeros.noise = NoiseModel::none(arch.num_layers());
  train(a, x, y, empty, sa);
  train(b, x, y, zeros, sb);
  EXPECT_EQ(std::memcmp(a.params().data(), b.params().data(), sizeof(float) * a.params().size()),
            0);
}

}  // namespace
}  // namespace gift

// Training: same seed gives bitwise the same weights with 1 and 2 threads, and with 1, 2 and 4
// on a network of several optimizer chunks whose gradients reach subnormal moments, as do
// fine-tuning steps (engine gradient, optimizer step under FlushSubnormals); a run
// resumed after an interruption equals an uninterrupted one; training learns a
// separable synthetic task; evaluation reports a sane interval.
#include "gift/train/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/core/threads.h"
#include "gift/train/engine.h"
#include "gift/train/evaluate.h"
#include "worker_fp_mode.h"

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

bool same(const Vec& a, const Vec& b) {
  // (memcmp on an empty vector's null data would be undefined: GCC then drops null checks)
  return a.size() == b.size() &&
         (a.size() == 0 ||
          std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.size())) == 0);
}

// The blobs in the first 8 of 256 inputs; the other 248 are positive values scaled by 1e-8 down
// to 1e-27, so that their weights' gradients are tiny and Adam's second moments of them
// (1e-3 g^2) subnormal unless flushed.
void blobs_with_tiny_inputs(int n, uint64_t seed, Mat* x, std::vector<int>* y) {
  Mat b;
  blobs(n, seed, &b, y);
  x->resize(n, 256);
  x->leftCols(8) = b;
  for (Eigen::Index j = 8; j < 256; ++j)
    x->col(j) = b.col(j % 8).cwiseAbs() * std::pow(10.0f, -8.0f - static_cast<float>(j % 20));
}

// The parameters and optimizer moments after training, then after five fine-tuning-like steps
// (the in-situ methods' step: engine gradient, optimizer step, projection, under
// FlushSubnormals) on a network of 256-256-32-3 (about 74k parameters: five chunks of the
// threaded optimizer step).
std::vector<Vec> train_and_tune(const Mat& x, const std::vector<int>& y, int threads) {
  Network net(Architecture::from_string("256-256-32-3", Activation::kRelu, 1.0));
  net.init(3);
  TrainOptions o = options(threads);
  o.epochs = 2;
  TrainState state;
  train(net, x, y, o, state);
  std::vector<Vec> out{net.params(), state.optimizer.m, state.optimizer.v};
  const FlushSubnormals ftz;
  Engine engine(threads);
  OptimizerState tune;
  Vec g;
  for (uint32_t step = 0; step < 5; ++step) {
    const Eigen::Index r0 = 40 * step;
    const NoiseDraws d{5, Purpose::kTrainNoise, step, 0};
    engine.loss_and_grad(net, x.middleRows(r0, 70), y.data() + r0, o.noise, d, g);
    optimizer_step(net.params(), g, tune, o.optimizer, engine.threads());
    net.project();
  }
  out.insert(out.end(), {net.params(), tune.m, tune.v});
  return out;
}

TEST(Trainer, BitwiseSameAtOneTwoAndFourThreadsOnSeveralOptimizerChunks) {
  Mat x;
  std::vector<int> y;
  blobs_with_tiny_inputs(300, 1, &x, &y);
  const char* names[6] = {"trained parameters", "trained first moment", "trained second moment",
                          "tuned parameters",   "tuned first moment",   "tuned second moment"};
  // OpenMP's workers in either mode (started inside or outside a FlushSubnormals scope).
  for (bool workers_flush : {false, true}) {
    test::set_worker_subnormal_mode(workers_flush, 4);
    const std::vector<Vec> one = train_and_tune(x, y, 1);
    ASSERT_GT(one[0].size(), 4 * 16384);
    for (int threads : {2, 4}) {
      const std::vector<Vec> many = train_and_tune(x, y, threads);
      for (size_t i = 0; i < one.size(); ++i) {
        EXPECT_TRUE(same(many[i], one[i]))
            << names[i] << " differ at " << threads << " threads, workers flush " << workers_flush;
      }
    }
  }
  test::set_worker_subnormal_mode(false, 4);
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
  EXPECT_NE(sum.message.find("the network's weights hold NaN or inf"), std::string::npos)
      << sum.message;
}

// A training noise so large that float32 overflows is named as the cause, with the options to
// change, not taken for a learning rate that is too large.
TEST(Trainer, OverflowingNoiseIsNamedAsTheCauseOfDivergence) {
  Mat x;
  std::vector<int> y;
  blobs(60, 6, &x, &y);
  for (double level : {1e30, 1e300}) {
    Network net(small_arch());
    net.init(2);
    TrainOptions o = options(1);
    o.noise = NoiseModel::uniform(small_arch().num_layers(), NoiseSite::kSumAdd, level);
    TrainState s;
    const TrainSummary sum = train(net, x, y, o, s);
    ASSERT_TRUE(sum.diverged) << level;
    EXPECT_NE(sum.message.find("at epoch 1, step 1"), std::string::npos) << sum.message;
    EXPECT_NE(sum.message.find("; the training noise (sum_add="), std::string::npos) << sum.message;
    EXPECT_TRUE(net.all_finite());  // the last finite weights are kept
    EXPECT_NE(sum.message.find("overflowed float32"), std::string::npos) << sum.message;
    EXPECT_NE(sum.message.find("--noise-*"), std::string::npos) << sum.message;
    EXPECT_EQ(sum.message.find("learning rate"), std::string::npos) << sum.message;
  }
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

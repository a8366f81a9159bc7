// The engine's fast paths against the plain kernels: Monte-Carlo passes that share layer 0's
// product give bit for bit what network_forward gives pass by pass, for any thread count; the
// stacked weight gradient equals the per-block sum to rounding.
#include "gift/train/engine.h"

#include <gtest/gtest.h>

#include <cstring>

#include "gift/core/rng.h"
#include "gift/train/loss.h"

namespace gift {
namespace {

Mat inputs(int n, int cols) {
  Mat x(n, cols);
  std::vector<float> z(static_cast<size_t>(x.size()));
  fill_normal(z.data(), z.size(), RngStream{4, Purpose::kTest, 0, 0, 0});
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = 0.5f + 0.3f * z[static_cast<size_t>(i)];
  return x;
}

NoiseModel every_site(size_t layers) {
  NoiseModel m = NoiseModel::none(layers);
  for (LayerNoise& l : m.layers) l = {0.2, 0.1, 0.3, 0.1};
  return m;
}

TEST(Engine, PredictRepeatsEqualsNetworkForwardCallByCall) {
  const Architecture arch = Architecture::from_string("12-20-9-4", Activation::kRelu, 1.0);
  Network net(arch);
  net.init(2);
  const int N = 300;  // two 256-row blocks, the second ragged
  const Mat x = inputs(N, 12);
  std::vector<int> labels(N);
  for (int i = 0; i < N; ++i) labels[static_cast<size_t>(i)] = i % 4;
  const NoiseModel noise = every_site(3);
  const NoiseDraws d{11, Purpose::kEvalNoise, 5, 0};
  const int passes = 3;
  for (int threads : {1, 2, 3}) {
    std::vector<int> pred(static_cast<size_t>(N * passes));
    std::vector<double> losses(passes);
    EngineT<float>(threads).predict_repeats(net, x, labels.data(), noise, d, passes, pred.data(),
                                            losses.data());
    for (int p = 0; p < passes; ++p) {
      double loss = 0;
      for (int r0 = 0; r0 < N; r0 += 256) {
        const int n = std::min(256, N - r0);
        Tape<float> tape;
        const NoiseDraws dp{d.seed, d.purpose, d.call + static_cast<uint32_t>(p),
                            static_cast<uint64_t>(r0)};
        network_forward<float>(tape, net, x.middleRows(r0, n), noise, &dp);
        std::vector<int> want(static_cast<size_t>(n));
        argmax_rows(tape.logits(), want.data());
        for (int i = 0; i < n; ++i) {
          ASSERT_EQ(pred[static_cast<size_t>(p * N + r0 + i)], want[static_cast<size_t>(i)])
              << "threads " << threads << " pass " << p << " row " << r0 + i;
        }
        loss += softmax_xent<float>(tape.logits(), labels.data() + r0, nullptr, 1.0f, nullptr);
      }
      EXPECT_EQ(losses[static_cast<size_t>(p)], loss) << "threads " << threads << " pass " << p;
    }
  }
}

TEST(Engine, StackedGradientEqualsTheSumOverRowBlocks) {
  const Architecture arch = Architecture::from_string("12-40-9-4", Activation::kTanh, 1.0);
  Network net(arch);
  net.init(6);
  const int B = 70;  // three row blocks, the last ragged
  const Mat x = inputs(B, 12);
  std::vector<int> labels(B);
  for (int i = 0; i < B; ++i) labels[static_cast<size_t>(i)] = (i * 7) % 4;
  const NoiseModel noise = every_site(3);
  const NoiseDraws d{3, Purpose::kTrainNoise, 2, 0};
  Vec g;
  EngineT<float>(2).loss_and_grad(net, x, labels.data(), noise, d, g);
  // Reference: each row block's tape, its gradient added block by block, in double.
  Vec ref = Vec::Zero(net.params().size());
  for (int r0 = 0; r0 < B; r0 += kRowBlock) {
    const int n = std::min(kRowBlock, B - r0);
    Tape<float> tape;
    const NoiseDraws db{d.seed, d.purpose, d.call, static_cast<uint64_t>(r0)};
    network_forward<float>(tape, net, x.middleRows(r0, n), noise, &db);
    Mat dlogits;
    softmax_xent<float>(tape.logits(), labels.data() + r0, &dlogits, 1.0f / B, nullptr);
    network_backward<float>(tape, net, noise, dlogits, nullptr);
    const std::vector<const Tape<float>*> one = {&tape};
    for (size_t l = 0; l < net.num_layers(); ++l) {
      accumulate_layer_grad<float>(ref, net, noise, one, l, 0, arch.sizes[l + 1]);
    }
  }
  ASSERT_EQ(g.size(), ref.size());
  EXPECT_LT((g - ref).norm(), 1e-5f * ref.norm());
  EXPECT_GT(ref.norm(), 0);
}

}  // namespace
}  // namespace gift

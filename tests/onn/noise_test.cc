// Statistics of each noise site: the sample mean and variance of the injected noise
// match the model within tolerances derived from the sample size (z = 5 standard
// errors; a false failure has probability < 1e-6 per check; draws are seeded).
#include "gift/onn/noise.h"

#include <gtest/gtest.h>

#include <cmath>

#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/onn/forward.h"

namespace gift {
namespace {

constexpr int kN = 40000;
constexpr double kZ = 5.0;

// Checks that `v` (kN samples) has mean 0 and variance `var`.
void expect_normal(const std::vector<double>& v, double var, const char* what) {
  double mean = 0, m2 = 0;
  for (double x : v) mean += x;
  mean /= v.size();
  for (double x : v) m2 += (x - mean) * (x - mean);
  const double s2 = m2 / (v.size() - 1);
  EXPECT_NEAR(mean, 0.0, kZ * std::sqrt(var / v.size())) << what;
  EXPECT_NEAR(s2, var, kZ * var * std::sqrt(2.0 / (v.size() - 1))) << what;
}

// The legacy chain: the sites as first released (the bias inside the multiplied sum).
NetworkD one_layer() {
  Architecture a;
  a.chain = Chain::kLegacy;
  a.sizes = {3, 2};
  a.activations = {Activation::kLinear};
  NetworkD net(a);
  net.weight(0) << 0.5, -0.25, 0.75, -0.5, 0.3, 0.2;
  net.bias(0) << 0.1, 0.4;
  return net;
}

struct Pass {
  MatD mean, out;
};

Pass run(const NetworkD& net, const NoiseModel& noise, const MatD& x) {
  Tape<double> t;
  const NoiseDraws d{11, Purpose::kTest, 0, 0};
  network_forward<double>(t, net, x, noise, &d);
  Pass p;
  p.mean = (x * net.weight(0).transpose()).rowwise() + net.bias(0);
  p.out = t.logits();
  return p;
}

MatD inputs() {
  MatD x(kN, 3);
  x.rowwise() = RowVecT<double>::Map(std::vector<double>{0.9, 0.2, 0.6}.data(), 3);
  return x;
}

TEST(NoiseSites, SumAdditive) {
  const NetworkD net = one_layer();
  const Pass p = run(net, NoiseModel::uniform(1, NoiseSite::kSumAdd, 0.3), inputs());
  for (int o = 0; o < 2; ++o) {
    std::vector<double> v;
    for (int r = 0; r < kN; ++r) v.push_back(p.out(r, o) - p.mean(r, o));
    expect_normal(v, 0.09, "sum_add");
  }
}

TEST(NoiseSites, SumMultiplicative) {
  const NetworkD net = one_layer();
  const Pass p = run(net, NoiseModel::uniform(1, NoiseSite::kSumMult, 0.2), inputs());
  for (int o = 0; o < 2; ++o) {
    std::vector<double> v;
    for (int r = 0; r < kN; ++r) v.push_back(p.out(r, o) / p.mean(r, o) - 1);
    expect_normal(v, 0.04, "sum_mult");
  }
}

TEST(NoiseSites, OutputAdditive) {
  const NetworkD net = one_layer();
  const Pass p = run(net, NoiseModel::uniform(1, NoiseSite::kOutAdd, 0.5), inputs());
  std::vector<double> v;
  for (int r = 0; r < kN; ++r) v.push_back(p.out(r, 1) - p.mean(r, 1));
  expect_normal(v, 0.25, "out_add");
}

// The local reparameterisation must have the variance of W ⊙ (1 + s_w ξ) per sample:
// s_w² Σ_j W_ij² h_j², checked against that formula and against explicit draws.
TEST(NoiseSites, WeightMultiplicativeMatchesExplicitDraws) {
  const NetworkD net = one_layer();
  const double sw = 0.25;
  const MatD x = inputs();
  const Pass p = run(net, NoiseModel::uniform(1, NoiseSite::kWeight, sw), x);
  const auto W = net.weight(0);
  for (int o = 0; o < 2; ++o) {
    double var = 0;
    for (int j = 0; j < 3; ++j) var += sw * sw * W(o, j) * W(o, j) * x(0, j) * x(0, j);
    std::vector<double> lr, explicit_draws;
    std::vector<double> xi(3);
    for (int r = 0; r < kN; ++r) {
      lr.push_back(p.out(r, o) - p.mean(r, o));
      fill_normal(xi.data(), 3, RngStream{99, Purpose::kTest, static_cast<uint32_t>(r), 1, 0});
      double z = 0;
      for (int j = 0; j < 3; ++j) z += W(o, j) * (1 + sw * xi[j]) * x(r, j);
      explicit_draws.push_back(z - (p.mean(r, o) - net.bias(0)[o]));
    }
    expect_normal(lr, var, "weight (local reparameterisation)");
    expect_normal(explicit_draws, var, "weight (explicit per-sample W)");
  }
}

TEST(NoiseSites, ClipBoundsOutputs) {
  NetworkD net = one_layer();
  NoiseModel m = NoiseModel::uniform(1, NoiseSite::kSumAdd, 2.0);
  m.output_clip = 0.5;
  const Pass p = run(net, m, inputs());
  EXPECT_LE(p.out.cwiseAbs().maxCoeff(), 0.5);
  EXPECT_EQ(p.out.cwiseAbs().maxCoeff(), 0.5);  // some outputs saturate
}

TEST(Rng, NormalsAreStandardAndStreamsDiffer) {
  std::vector<double> a(kN), b(kN);
  fill_normal(a.data(), a.size(), RngStream{1, Purpose::kTest, 0, 0, 0});
  fill_normal(b.data(), b.size(), RngStream{1, Purpose::kTest, 1, 0, 0});
  expect_normal(a, 1.0, "stream a");
  double cov = 0;
  for (int i = 0; i < kN; ++i) cov += a[i] * b[i];
  EXPECT_NEAR(cov / kN, 0.0, kZ / std::sqrt(static_cast<double>(kN)));
  // A prefix of a stream is the same draws (pure function of the index).
  std::vector<double> c(5);
  fill_normal(c.data(), 5, RngStream{1, Purpose::kTest, 0, 0, 0});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c[i], a[i]);
}

TEST(NoiseModel, ValidatesAndParses) {
  NoiseModel m = NoiseModel::uniform(2, NoiseSite::kWeight, 0.1);
  EXPECT_NO_THROW(m.validate(2));
  EXPECT_THROW(m.validate(3), InputError);
  m.layers[1].sum_add = -0.1;
  EXPECT_THROW(m.validate(2), InputError);
  m.layers[1].sum_add = std::nan("");
  EXPECT_THROW(m.validate(2), InputError);
}

TEST(NoiseSiteRegistry, TableMatchesEnumNamesAndMembers) {
  const char* names[] = {"weight", "sum_mult", "sum_add",    "out_add", "shot",
                         "rin",    "in_add",   "weight_add", "drift"};
  // The enum order of the sites added with the physical chain (weight_add before in_add).
  std::swap(names[6], names[7]);
  LayerNoise n{1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (int s = 0; s < kNumNoiseSites; ++s) {
    const NoiseSiteInfo& info = noise_sites()[s];
    EXPECT_EQ(site_index(info.site), s);
    EXPECT_STREQ(info.name, names[s]);
    EXPECT_STREQ(to_string(info.site), names[s]);
    EXPECT_EQ(parse_noise_site(names[s]), info.site);
    EXPECT_EQ(info.stream_id, static_cast<uint32_t>(s));  // never renumber: draws depend on it
    EXPECT_EQ(n.at(info.site), s + 1.0);
    EXPECT_EQ(&(n.*info.member), &n.at(info.site));
  }
  EXPECT_EQ(noise_site_names(" or "),
            "weight, sum_mult, sum_add, out_add, shot, rin, weight_add, in_add or drift");
  try {
    parse_noise_site("bias");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "unknown noise site 'bias': expected weight, sum_mult, sum_add, out_add, shot, "
                 "rin, weight_add, in_add or drift");
  }
  EXPECT_FALSE(LayerNoise{}.any());
  for (const NoiseSiteInfo& info : noise_sites()) {
    LayerNoise one;
    one.*info.member = 0.5;
    EXPECT_TRUE(one.any()) << info.name;
  }
}

TEST(NoiseSiteRegistry, StreamWordsOfTheFourSitesAreUnchanged) {
  for (size_t layer = 0; layer < 1000; ++layer) {
    for (uint32_t id = 0; id < 4; ++id) {
      EXPECT_EQ(noise_stream_word(layer, id), static_cast<uint32_t>(layer * 4 + id));
    }
  }
}

TEST(NoiseSiteRegistry, ANewStreamIdNeverCollidesWithTheFirstFour) {
  constexpr size_t kLayers = size_t{1} << 18;
  const uint32_t old_max = noise_stream_word(kLayers - 1, 3);  // largest word of ids 0..3
  uint32_t prev = 0;
  for (size_t layer = 0; layer < kLayers; ++layer) {
    const uint32_t c4 = noise_stream_word(layer, 4), c5 = noise_stream_word(layer, 5);
    ASSERT_GT(c4, old_max) << layer;  // above every word of the first four sites
    ASSERT_NE(c4, c5) << layer;
    if (layer > 0) {
      ASSERT_GT(c4, prev) << layer;  // distinct across layers
    }
    prev = c4;
  }
  EXPECT_LT(noise_stream_word(kLayers - 1, 4), noise_stream_word(0, 5));  // ids don't overlap
  EXPECT_THROW(noise_stream_word(0, 2048), InternalError);
}

// The draws of a site on layer l come from stream word l * 4 + site (as they always have).
TEST(NoiseSiteRegistry, ForwardDrawsUseTheStreamWord) {
  Architecture a;
  a.sizes = {3, 2, 2};
  a.activations = {Activation::kLinear, Activation::kLinear};
  NetworkD net(a);
  net.params().setZero();
  const NoiseModel noise = NoiseModel::uniform(2, NoiseSite::kOutAdd, 1.0);
  Tape<double> t;
  const NoiseDraws d{7, Purpose::kTest, 3, 5};
  network_forward<double>(t, net, MatD::Zero(2, 3), noise, &d);
  for (int r = 0; r < 2; ++r) {
    double want[2];
    fill_normal(want, 2, RngStream{7, Purpose::kTest, 3, static_cast<uint32_t>(5 + r), 1 * 4 + 3});
    EXPECT_EQ(t.logits()(r, 0), want[0]);
    EXPECT_EQ(t.logits()(r, 1), want[1]);
  }
}

// The SOA cross-connect preset: the documented values on every layer, nothing else on; an
// unknown name is refused naming the known ones.
TEST(NoisePreset, SoaHasTheDocumentedValuesAndUnknownNamesAreRefused) {
  const NoiseModel m = noise_preset("soa", 3);
  ASSERT_EQ(m.layers.size(), 3u);
  for (const LayerNoise& l : m.layers) {
    EXPECT_EQ(l.sum_add, 0.1);
    EXPECT_EQ(l.shot, 0.01);
    EXPECT_EQ(l.rin, 0.01);
    EXPECT_EQ(l.weight, 0.01);
    EXPECT_EQ(l.sum_mult + l.out_add + l.weight_add + l.in_add + l.drift, 0.0);
  }
  m.validate(3);
  try {
    noise_preset("mzi", 3);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "unknown noise preset 'mzi': expected soa");
  }
}

}  // namespace
}  // namespace gift

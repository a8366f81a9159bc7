// The guard of fine-tuning (insitu/finetune.h): its tests are exact, and a candidate no better
// than the start is accepted at most at the stated level, whatever the number of checks.
//
// The fixture is a chip whose verdicts are drawn, not computed: every network it is programmed
// with has, on each image, a persistent verdict (right or wrong) and each pass flips it with a
// small probability (device noise). The first network programmed is the start; any other one
// (a method's candidate at a check) keeps the start's verdict on most images and has its own,
// drawn afresh, on a fraction of them. Under the null those fresh verdicts are right as often
// as the start's: every candidate equals the start in expectation, but on a given set of images
// some candidates are luckier than others, which is what selection among checks picks up.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gift/core/stats.h"
#include "gift/insitu/device.h"
#include "gift/insitu/finetune.h"
#include "gift/insitu/methods.h"
#include "gift/insitu/report_json.h"

namespace gift {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
double uniform(uint64_t a, uint64_t b, uint64_t c) {
  return static_cast<double>(mix(mix(mix(a) ^ b) ^ c) >> 11) * 0x1.0p-53;
}

constexpr int kClasses = 4;
constexpr int kWidth = 4;

// Images whose first pixel names them (id / 4096), labels id % 4.
data::Dataset images(int first, int n) {
  data::Dataset s;
  s.images.setZero(n, kWidth);
  s.labels.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int id = first + i;
    s.images(i, 0) = static_cast<float>(id) / 4096.0f;
    for (int j = 1; j < kWidth; ++j) s.images(i, j) = 0.25f * static_cast<float>(j);
    s.labels[static_cast<size_t>(i)] = id % kClasses;
  }
  return s;
}

struct VerdictOptions {
  double start_accuracy = 0.9;  // the start's persistent verdicts
  double own = 0.1;             // fraction of images where a candidate has its own verdict
  double own_accuracy = 0.9;    // how often that verdict is right (0.9: the null)
  double flip = 0.05;           // per pass, the device noise flips a verdict
};

class VerdictChip : public Device {
 public:
  VerdictChip(const Architecture& arch, uint64_t seed, VerdictOptions v)
      : arch_(arch), seed_(seed), v_(v) {}
  DeviceInfo info() const override { return {arch_, false, "verdict chip"}; }
  void program(const Network& net) override {
    // Word-wise FNV, not core/hash.h's byte-wise one: the verdicts are keyed by it, and the
    // rates docs/method.md quotes were measured with these keys.
    uint64_t h = 1469598103934665603ULL;
    for (Eigen::Index i = 0; i < net.params().size(); ++i) {
      uint32_t bits;
      const float x = net.params()[i];
      std::memcpy(&bits, &x, sizeof bits);
      h = (h ^ bits) * 1099511628211ULL;
    }
    key_ = h;
    if (!has_start_) start_key_ = h;
    has_start_ = true;
    ++counters_.programmings;
  }
  DeviceOutput forward(const Mat& x, bool) override {
    DeviceOutput out;
    out.out.setZero(x.rows(), kClasses);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const int id = static_cast<int>(std::lround(x(i, 0) * 4096.0f));
      const uint64_t img = static_cast<uint64_t>(id);
      bool right = uniform(seed_, img, 1) < v_.start_accuracy;
      if (key_ != start_key_ && uniform(seed_ ^ key_, img, 2) < v_.own) {
        right = uniform(seed_ ^ key_, img, 3) < v_.own_accuracy;
      }
      if (uniform(seed_, img, 1000 + counters_.passes + static_cast<uint64_t>(i)) < v_.flip) {
        right = !right;
      }
      const int label = id % kClasses;
      out.out(i, right ? label : (label + 1) % kClasses) = 5.0f;
    }
    counters_.passes += static_cast<uint64_t>(x.rows());
    ++counters_.forwards;
    return out;
  }
  DeviceCounters counters() const override { return counters_; }

 private:
  Architecture arch_;
  uint64_t seed_;
  VerdictOptions v_;
  uint64_t key_ = 0, start_key_ = 0;
  bool has_start_ = false;
  DeviceCounters counters_;
};

struct Rate {
  int accepted = 0, runs = 0;
  double rate() const { return static_cast<double>(accepted) / runs; }
  // The one-sided 99% Monte-Carlo margin of a rate near p over these runs.
  double margin(double p) const { return 2.326 * std::sqrt(p * (1 - p) / runs); }
};

// How often gift's result is accepted on verdict chips over `seeds` seeds.
Rate acceptance(int checks, int seeds, const VerdictOptions& v, bool defaults) {
  const Architecture arch = Architecture::from_string("4-6-4", Activation::kRelu, 1.0);
  const data::Dataset train = images(0, 400), calib = images(1000, defaults ? 1000 : 600);
  Rate r;
  for (int s = 0; s < seeds; ++s) {
    const uint64_t seed = 1 + static_cast<uint64_t>(s);
    Network net(arch);
    net.init(seed);
    FinetuneOptions o;
    o.calibrate = false;  // the verdict chip has no noise to calibrate
    o.noise = NoiseModel::none(2);
    o.checks = checks;
    o.seed = seed;
    o.threads = 1;
    o.epochs = 2;
    if (!defaults) {  // 300 scoring images, as in the review that found the bias
      o.fit_data = FitData::kCalibration;
      o.holdout = 0.5;
      o.budget_passes = 0;
    }
    VerdictChip chip(arch, seed * 7919, v);
    Network tuned = net;
    const FinetuneReport rep = make_method("gift")->run(tuned, chip, calib, train, o);
    r.accepted += rep.accepted;
    ++r.runs;
  }
  return r;
}

TEST(Stats, SignTestIsExact) {
  EXPECT_DOUBLE_EQ(sign_test_p(3, 0), 0.125);  // 3 of 3 discordant images: not at 5%
  EXPECT_DOUBLE_EQ(sign_test_p(4, 0), 0.0625);
  EXPECT_DOUBLE_EQ(sign_test_p(5, 0), 0.03125);
  EXPECT_NEAR(sign_test_p(9, 3), 299.0 / 4096.0, 1e-12);  // P(X >= 9 | 12)
  EXPECT_DOUBLE_EQ(sign_test_p(0, 0), 1.0);
  EXPECT_DOUBLE_EQ(sign_test_p(0, 7), 1.0);
  EXPECT_NEAR(sign_test_p(5, 5), 0.623046875, 1e-12);
}

TEST(Stats, PairedTIsStudents) {
  // d = {1, 2, 3}: mean 2, sd 1, t = 2 sqrt(3) = 3.4641 on 2 df: one-sided p = 0.03709.
  EXPECT_NEAR(paired_t_p({1, 2, 3}), 0.037089, 1e-5);
  EXPECT_NEAR(paired_t_p({-1, 0, 1}), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(paired_t_p({0.5}), 1.0);  // nothing to test
  EXPECT_NEAR(upper_tail_level(1.645), 0.04998, 1e-5);
  EXPECT_NEAR(upper_tail_level(0), 0.5, 1e-12);
}

// The report of one run says what was tested, on which images, and never prints "±0".
TEST(Acceptance, TheReportSeparatesSelectionFromConfirmation) {
  const Architecture arch = Architecture::from_string("4-6-4", Activation::kRelu, 1.0);
  const data::Dataset train = images(0, 400), calib = images(1000, 600);
  for (int checks : {1, 3}) {
    const auto run = [&](uint64_t chip_seed) {
      Network net(arch);
      net.init(3);
      FinetuneOptions o;
      o.calibrate = false;
      o.noise = NoiseModel::none(2);
      o.checks = checks;
      o.fit_data = FitData::kCalibration;
      o.holdout = 0.5;
      o.budget_passes = 0;
      o.epochs = 2;
      VerdictChip chip(arch, chip_seed, VerdictOptions{});
      return make_method("gift")->run(net, chip, calib, train, o);
    };
    // Every candidate equals the start in expectation here, so with several checks whether one
    // beats the start on the selection half is chance (and follows the CPU's rounding): the
    // first chip seed where one does is the run examined. With one check the end is tested.
    uint64_t chip_seed = 11;
    FinetuneReport r = run(chip_seed);
    while (!r.tested && chip_seed < 60) r = run(++chip_seed);
    SCOPED_TRACE(r.summary());
    if (checks == 1) {
      EXPECT_EQ(chip_seed, 11u);
    }
    EXPECT_EQ(r.score_images, 300u);
    EXPECT_EQ(r.select_images, checks == 1 ? 0u : 150u);
    EXPECT_EQ(r.confirm_images, checks == 1 ? 300u : 150u);
    ASSERT_EQ(static_cast<int>(r.checks.size()), checks);
    // The checks are evenly spaced along the plan (300 fitted images, batch 64, 2 epochs: 10
    // steps), the last at the end.
    const uint64_t steps = 2 * ((300 + 63) / 64);
    EXPECT_EQ(r.checks.back().step, steps);
    for (int k = 0; k < checks; ++k) {
      EXPECT_EQ(r.checks[static_cast<size_t>(k)].step,
                (static_cast<uint64_t>(k + 1) * steps + static_cast<uint64_t>(checks) - 1) /
                    static_cast<uint64_t>(checks));
    }
    EXPECT_TRUE(r.tested);
    EXPECT_GT(r.start_se, 0.0);  // one pass per image: the error is over images
    EXPECT_EQ(r.images_better + r.images_worse > 0, true);
    EXPECT_NEAR(r.level, 0.05, 1e-3);
    EXPECT_EQ(r.accepted, r.gain > 0 && r.p_value <= r.level);
    EXPECT_EQ(r.summary().find("±0"), std::string::npos);
    EXPECT_NE(r.summary().find(checks == 1 ? "on 300 held-out images" : "on 150 held-out images"),
              std::string::npos);
    const nlohmann::json j = finetune_report_to_json(r);
    EXPECT_EQ(j.at("acceptance_test").at("test"), "sign");
  }
}

// The review's bar: over 400 seeds, the false-accept rate at 1, 3 and 5 checks is within its
// Monte-Carlo error of the 5% level. Candidates with their own verdicts on 30% of the images and
// little device noise (2% flips): the previous guard (a candidate chosen on the scoring images,
// re-measured on the same images, z-test) accepted 4.8%, 9.0% and 14.5% here.
TEST(AcceptanceSlow, FalseAcceptRateHoldsItsLevelAtOneThreeAndFiveChecks) {
  const int seeds = 400;
  VerdictOptions null;
  null.own = 0.3;
  null.flip = 0.02;
  for (int checks : {1, 3, 5}) {
    const Rate r = acceptance(checks, seeds, null, false);
    std::printf("checks %d: %d of %d accepted (%.3f)\n", checks, r.accepted, r.runs, r.rate());
    EXPECT_LE(r.rate(), 0.05 + r.margin(0.05)) << "checks " << checks;
  }
}

// Power at the defaults (1,000 lab images, all scored, one check, the pass budget), measured:
// a candidate 1 point better in expectation (its own verdicts, on 10% of the images, always
// right where the start is right 90% of the time) is kept in 20% of the runs, one 3 points
// better in 78% (200 seeds; docs/method.md). The bars sit 3 Monte-Carlo errors below, so a
// guard that lost power would fail here.
TEST(AcceptanceSlow, PowerAtTheDefaults) {
  const int seeds = 200;
  VerdictOptions one;
  one.own_accuracy = 1.0;  // +1 point over all images
  const Rate r1 = acceptance(1, seeds, one, true);
  VerdictOptions three;
  three.own = 0.3;
  three.own_accuracy = 1.0;  // +3 points
  const Rate r3 = acceptance(1, seeds, three, true);
  std::printf("power: +1 point %.3f, +3 points %.3f (%d seeds)\n", r1.rate(), r3.rate(), seeds);
  EXPECT_GE(r1.rate(), 0.12);
  EXPECT_GE(r3.rate(), 0.69);
}

}  // namespace
}  // namespace gift

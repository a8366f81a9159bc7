// Calibration keeps its word: its 95% intervals cover the true noise stds of simulated
// devices at about the nominal rate, per site, over many device seeds and noise mixes; a site
// whose true std is 0 is reported 0 with an interval reaching 0; the static weight error is
// found with intervals that cover it; the output-only scale likewise.
//
// The fast tests run 40 device seeds per case on a small network (20-16-10, random weights
// and inputs). DISABLED_Study and DISABLED_StudyOutputOnly are the larger measurement of
// scripts/calibration-coverage.sh, driven by environment variables:
//   GIFT_STUDY_WIDTHS  network widths (default 20-16-10)     GIFT_STUDY_SEEDS  seeds per case
//   GIFT_STUDY_FILTER  substring of the case names to run    GIFT_STUDY_FIRST  first seed
//   GIFT_STUDY_LAYER   count only this layer's intervals
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gift/core/rng.h"
#include "gift/data/dataset.h"
#include "gift/insitu/calibration.h"
#include "gift/insitu/simulated_device.h"
#include "gift/io/checkpoint.h"
#include "gift/onn/forward.h"
#include "gift/onn/imperfections.h"

namespace gift {
namespace {

struct Case {
  std::string name;
  std::string widths = "20-16-10";
  Activation act = Activation::kRelu;
  NoiseModel truth;
  Imperfections imp;
  double scale = 0;                    // the case's largest std (zero sites are judged against it)
  const Network* net = nullptr;        // a given network (else random ones by seed)
  const Mat* pool = nullptr;           // inputs drawn from these rows (else uniform random)
  std::vector<NoiseSite> extra_sites;  // sites the fit may find besides the default ones
  bool without_sum_mult = false;       // sum_mult left out of the fit
};

// What calibration can observe of `truth`: a layer's in_add (intensity noise on its input)
// and the output noise of the layer before are one observable, reported as the latter.
NoiseModel observable(const NoiseModel& truth) {
  NoiseModel m = truth;
  for (size_t l = 1; l < m.layers.size(); ++l) {
    const double o = m.layers[l - 1].out_add, i = m.layers[l].in_add;
    m.layers[l - 1].out_add = std::sqrt(o * o + i * i);
    m.layers[l].in_add = 0;
  }
  return m;
}

NoiseModel mix(size_t L, double w, double m, double a, double o) {
  NoiseModel n = NoiseModel::none(L);
  for (LayerNoise& l : n.layers) l = {w, m, a, o};
  return n;
}

size_t num_layers(const std::string& widths) {
  return Architecture::from_string(widths, Activation::kRelu, 1.0).num_layers();
}

// Random weights (He-uniform, doubled and clipped to the range: well spread features) and
// small biases; one of five networks per seed.
Network case_net(const Case& c, uint64_t seed) {
  Network net(Architecture::from_string(c.widths, c.act, 1.0));
  net.init(1 + seed % 5);  // the physical chain's init spreads the weights over the range
  for (size_t l = 0; l < net.num_layers(); ++l) {
    auto b = net.bias(l);
    for (Eigen::Index i = 0; i < b.size(); ++i) b[i] = 0.3f * std::sin(1.0f + i + l);
  }
  return net;
}

// Uniform [0, 1) inputs, like pixels.
Mat case_inputs(int n, int cols, uint64_t seed) {
  Mat x(n, cols);
  std::vector<uint32_t> bits(static_cast<size_t>(x.size()));
  fill_uint32(bits.data(), bits.size(), RngStream{seed, Purpose::kTest, 7, 0, 0});
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    x.data()[i] = (bits[static_cast<size_t>(i)] >> 8) / 16777216.0f;
  }
  return x;
}

// The static weight error that acts like quantisation on layer l: the RMS of (W' - W) h over
// the RMS of the same with |W| h, h the layer's clean input on `x`.
double static_equivalent(const Network& net, const Network& programmed, const Mat& x, size_t l) {
  Mat h = x;
  for (size_t j = 0; j < l; ++j) {
    Mat z = h * net.weight(j).transpose();
    z.rowwise() += net.bias(j);
    apply_activation<float>(h, z, net.arch().activations[j]);
  }
  const MatD hd = h.cast<double>();
  const MatD dW = (programmed.weight(l) - net.weight(l)).cast<double>();
  const MatD W2 = net.weight(l).cast<double>().array().square().matrix();
  const double num = (hd * dW.transpose()).array().square().sum();
  const double den = (hd.array().square().matrix() * W2.transpose()).sum();
  return std::sqrt(num / den);
}

// Intervals of one kind (a noise site, or the static error) over devices and layers.
struct SiteTally {
  int on = 0, covered = 0;  // true std > 0: intervals that cover it
  double ratio_sum = 0, width_sum = 0;
  int off = 0, found = 0;                      // true std 0: intervals that exclude 0
  double off_value_sum = 0, off_high_sum = 0;  // relative to the case's scale

  void add(double truth, const Estimate& e, double scale) {
    if (truth > 0) {
      ++on;
      covered += e.low <= truth && truth <= e.high;
      ratio_sum += e.mean / truth;
      width_sum += (e.high - e.low) / truth;
    } else {
      ++off;
      found += e.low > 0;
      off_value_sum += e.mean / scale;
      off_high_sum += e.high / scale;
    }
  }
  void add(const SiteTally& o) {
    on += o.on;
    covered += o.covered;
    ratio_sum += o.ratio_sum;
    width_sum += o.width_sum;
    off += o.off;
    found += o.found;
    off_value_sum += o.off_value_sum;
    off_high_sum += o.off_high_sum;
  }
  double coverage() const { return on ? static_cast<double>(covered) / on : 1.0; }
  double found_rate() const { return off ? static_cast<double>(found) / off : 0.0; }
  double off_value() const { return off ? off_value_sum / off : 0.0; }
};

struct Tally {
  SiteTally site[kNumNoiseSites];
  SiteTally static_weight;
  void add(const Tally& o) {
    for (int s = 0; s < kNumNoiseSites; ++s) site[s].add(o.site[s]);
    static_weight.add(o.static_weight);
  }
};

Tally run_case(const Case& c, int seeds, uint64_t first_seed, int K = 100, int R = 16,
               int only_layer = -1) {
  Tally t;
  const double scale = c.scale > 0 ? c.scale : 1.0;
  for (int s = 0; s < seeds; ++s) {
    const uint64_t seed = first_seed + static_cast<uint64_t>(s);
    const Network net = c.net ? *c.net : case_net(c, seed);
    SimulatedDeviceOptions so;
    so.noise = c.truth;
    so.imperfections = c.imp;
    so.seed = seed;
    so.threads = 1;
    SimulatedDevice dev(net.arch(), so);
    CalibrationOptions co;
    co.inputs = K;
    co.repeats = R;
    co.seed = seed;
    co.threads = 1;
    for (NoiseSite extra : c.extra_sites) co.sites.push_back(extra);
    if (c.without_sum_mult) {
      co.sites.erase(std::find(co.sites.begin(), co.sites.end(), NoiseSite::kSumMult));
    }
    Mat x = case_inputs(K, net.arch().inputs(), seed);
    if (c.pool) {
      for (int k = 0; k < K; ++k) {
        x.row(k) = c.pool->row(uniform_below(RngStream{seed, Purpose::kTest, 8, 0, 0},
                                             static_cast<uint64_t>(k),
                                             static_cast<uint32_t>(c.pool->rows())));
      }
    }
    const Calibration cal = calibrate(dev, net, x, co);
    const Network programmed = apply_imperfections(net, c.imp, seed);
    const NoiseModel seen = observable(c.truth);
    for (size_t l = 0; l < c.truth.layers.size(); ++l) {
      if (only_layer >= 0 && static_cast<int>(l) != only_layer) continue;
      for (int site = 0; site < kNumNoiseSites; ++site) {
        const NoiseSite ns = static_cast<NoiseSite>(site);
        if (!co.fits(ns)) continue;  // not fitted: reported 0 with an empty interval
        t.site[site].add(seen.layers[l].at(ns), cal.layers[l].site[site], scale);
      }
      const double truth =
          c.imp.weight_bits > 0 ? static_equivalent(net, programmed, x, l) : c.imp.gain_std;
      t.static_weight.add(truth, cal.layers[l].static_weight, 0.1);
    }
  }
  return t;
}

std::string describe(const SiteTally& x, const char* name) {
  std::string out;
  char buf[200];
  if (x.on) {
    std::snprintf(buf, sizeof buf,
                  "  %-9s on : coverage %4d/%4d = %.3f  mean est/true %.3f  width/true %.3f\n",
                  name, x.covered, x.on, x.coverage(), x.ratio_sum / x.on, x.width_sum / x.on);
    out += buf;
  }
  if (x.off) {
    std::snprintf(buf, sizeof buf,
                  "  %-9s off: reported non-zero %4d/%4d = %.3f  mean value/scale %.4f  mean "
                  "high/scale %.4f\n",
                  name, x.found, x.off, x.found_rate(), x.off_value(), x.off_high_sum / x.off);
    out += buf;
  }
  return out;
}

std::string describe(const Tally& t) {
  std::string out;
  for (int s = 0; s < kNumNoiseSites; ++s) {
    out += describe(t.site[s], to_string(static_cast<NoiseSite>(s)));
  }
  return out + describe(t.static_weight, "static");
}

std::string act_name(Activation a) { return to_string(a); }

// Each site alone at a small and a large std, and all four mixed, for `act`.
std::vector<Case> site_cases(const std::string& widths, Activation act,
                             const std::vector<double>& stds) {
  const size_t L = num_layers(widths);
  std::vector<Case> cases;
  for (double sd : stds) {
    for (int s = 0; s < kNumNoiseSites; ++s) {
      Case c;
      c.widths = widths;
      c.act = act;
      c.truth = NoiseModel::uniform(L, static_cast<NoiseSite>(s), sd);
      c.scale = sd;
      // shot, rin and weight_add are fitted only when a user lists them
      // (CalibrationOptions::sites).
      if (s == site_index(NoiseSite::kShot) || s == site_index(NoiseSite::kRin) ||
          s == site_index(NoiseSite::kWeightAdd)) {
        c.extra_sites = {static_cast<NoiseSite>(s)};
      }
      // rin (relative noise on each arm) and sum_mult (relative noise on their difference) are
      // told apart only by the arms' common part; a user who fits rin leaves sum_mult out.
      c.without_sum_mult = s == site_index(NoiseSite::kRin);
      c.name = act_name(act) + " " + to_string(static_cast<NoiseSite>(s)) + " " +
               std::to_string(sd).substr(0, 4);
      cases.push_back(c);
    }
    Case c;
    c.widths = widths;
    c.act = act;
    c.truth = mix(L, sd, sd / 2, sd, sd / 2);
    c.scale = sd;
    c.name = act_name(act) + " mixed " + std::to_string(sd).substr(0, 4);
    cases.push_back(c);
  }
  return cases;
}

// Static errors on top of a mix (weight 0.1, sum_add 0.1, out_add 0.05).
std::vector<Case> static_cases(const std::string& widths, Activation act) {
  const size_t L = num_layers(widths);
  std::vector<Case> cases;
  for (const auto& [gain, bits] :
       std::vector<std::pair<double, int>>{{0.0, 0}, {0.05, 0}, {0.1, 0}, {0.0, 6}}) {
    Case c;
    c.widths = widths;
    c.act = act;
    c.truth = mix(L, 0.1, 0.0, 0.1, 0.05);
    c.scale = 0.1;
    c.imp.gain_std = gain;
    c.imp.weight_bits = bits;
    c.name = act_name(act) +
             (bits ? " static 6-bit weights" : " static gain " + std::to_string(gain).substr(0, 4));
    cases.push_back(c);
  }
  return cases;
}

// --- fast tests ------------------------------------------------------------------------

constexpr int kSeeds = 40;

// 40 devices per case, each site alone (std 0.05 with relu, 0.5 with tanh) and all mixed
// (both stds, both activations): per site, pooled over cases and layers, the intervals cover
// at a rate in [0.88, 1.0) (hundreds of intervals at 0.95: a binomial band of about 4 sigma),
// and a site whose true std is 0 is reported non-zero (interval above 0) at most at the rate
// a 95% interval allows on one side plus slack, with values near 0.
TEST(CalibrationCoverageSlow, EachSiteAloneAndMixedOverFortyDevices) {
  std::vector<Case> cases = site_cases("20-16-10", Activation::kRelu, {0.05});
  for (const Case& c : site_cases("20-16-10", Activation::kTanh, {0.5})) cases.push_back(c);
  for (const Case& c : site_cases("20-16-10", Activation::kRelu, {0.5})) {
    if (c.name.find("mixed") != std::string::npos) cases.push_back(c);
  }
  for (const Case& c : site_cases("20-16-10", Activation::kTanh, {0.05})) {
    if (c.name.find("mixed") != std::string::npos) cases.push_back(c);
  }
  Tally all;
  std::string text;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Tally t = run_case(cases[i], kSeeds, 1000 + 100 * i);  // no draws shared by cases
    text += cases[i].name + "\n" + describe(t);
    all.add(t);
    for (int s = 0; s < kNumNoiseSites; ++s) {
      // 80 intervals per case and site (2 layers; in_add 40, layer 0 only): 0.8 is 6 binomial
      // sigma below 0.95 at 80, 4 at 40.
      if (!t.site[s].on) continue;
      EXPECT_GE(t.site[s].coverage(), 0.8)
          << cases[i].name << " " << to_string(static_cast<NoiseSite>(s));
    }
  }
  if (std::getenv("GIFT_TEST_VERBOSE"))
    std::printf("%sALL\n%s", text.c_str(), describe(all).c_str());
  for (int s = 0; s < kNumNoiseSites; ++s) {
    const SiteTally& x = all.site[s];
    const std::string what = std::string(to_string(static_cast<NoiseSite>(s))) + "\n" + text;
    // The first four sites are on in every mixed case too (hundreds of intervals); the sites of
    // the physical chain in their own cases only (80 intervals for in_add, 160 for the others;
    // the coverage band is then 4 binomial sigma below 0.95).
    const bool first_four = s < 4;
    EXPECT_GE(x.on, first_four ? 400 : 80) << what;
    EXPECT_GE(x.coverage(), first_four ? 0.88 : 0.85) << what;
    // (With 80 or 160 intervals all of them covering is not yet a sign of width: 0.95^80 is
    // 1.7%; the width itself is in the report.)
    if (first_four) {
      EXPECT_LE(x.coverage(), 0.995) << "intervals suspiciously wide: " << what;
    }
    // Opt-in sites (shot, rin, weight_add) are fitted only in their own cases.
    const bool opt_in = s == site_index(NoiseSite::kShot) || s == site_index(NoiseSite::kRin) ||
                        s == site_index(NoiseSite::kWeightAdd);
    if (opt_in) continue;
    EXPECT_GE(x.off, 400) << what;
    EXPECT_LE(x.found_rate(), 0.06) << what;
    EXPECT_LE(x.off_value(), 0.01) << what;
  }
}

// A chip with weight noise alone at std 1.0 (the case of the report that led here, where
// sum_mult 0.23 and sum_add 0.15-0.24 were found): every other site reported 0 nearly always.
TEST(CalibrationCoverage, AWeightOnlyChipShowsNoOtherSite) {
  Case c;
  c.truth = NoiseModel::uniform(2, NoiseSite::kWeight, 1.0);
  c.scale = 1.0;
  const Tally t = run_case(c, kSeeds, 7000);
  const std::string text = describe(t);
  if (std::getenv("GIFT_TEST_VERBOSE")) std::printf("%s", text.c_str());
  EXPECT_GE(t.site[static_cast<int>(NoiseSite::kWeight)].coverage(), 0.88) << text;
  for (NoiseSite s : {NoiseSite::kSumMult, NoiseSite::kSumAdd, NoiseSite::kOutAdd}) {
    const SiteTally& x = t.site[static_cast<int>(s)];
    EXPECT_LE(x.found, 4) << to_string(s) << "\n" << text;  // of 80; 2 expected
    EXPECT_LE(x.off_value(), 0.01) << to_string(s) << "\n" << text;
  }
}

// Static weight errors: a gain error of std 0.05 and 0.1 (40 devices each) is covered at a
// rate in [0.88, 1]; 6-bit weights are reported near the relative error that acts alike; a
// chip without static errors is reported without them. The per-pass intervals keep covering.
TEST(CalibrationCoverageSlow, StaticWeightErrorOverFortyDevices) {
  const std::vector<Case> cases = static_cases("20-16-10", Activation::kRelu);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const Tally t = run_case(c, kSeeds, 9000 + 100 * i);
    const std::string text = c.name + "\n" + describe(t);
    if (std::getenv("GIFT_TEST_VERBOSE")) std::printf("%s", text.c_str());
    const SiteTally& st = t.static_weight;
    if (c.imp.any()) {
      EXPECT_GE(st.coverage(), 0.88) << text;
      EXPECT_NEAR(st.ratio_sum / st.on, 1.0, c.imp.weight_bits ? 0.4 : 0.1) << text;
    } else {
      // The interval's lower end is above 0 at a one-sided 2.5% rate on a chip without static
      // errors; of 80 intervals, 6 or more happen with probability 1.5% at that rate.
      EXPECT_LE(st.found, 5) << text;
    }
    for (NoiseSite s : {NoiseSite::kWeight, NoiseSite::kSumAdd, NoiseSite::kOutAdd}) {
      EXPECT_GE(t.site[static_cast<int>(s)].coverage(), 0.85) << to_string(s) << "\n" << text;
    }
  }
}

// Output-only devices: the fitted scale of a pattern (the truth at half size: the true scale
// is 2) is covered at a rate in [0.85, 1] over 2 x 40 devices (K = 50, R = 8 to keep it fast).
TEST(CalibrationCoverageSlow, OutputOnlyScaleOverFortyDevices) {
  int covered = 0, total = 0;
  for (const Case& c : {site_cases("20-16-10", Activation::kRelu, {0.05}).back(),
                        site_cases("20-16-10", Activation::kTanh, {0.5}).back()}) {
    for (int s = 0; s < kSeeds; ++s) {
      const uint64_t seed = 11000 + 100 * static_cast<uint64_t>(total / kSeeds) + s;
      const Network net = case_net(c, seed);
      SimulatedDeviceOptions so;
      so.noise = c.truth;
      so.seed = seed;
      so.threads = 1;
      so.taps = false;
      SimulatedDevice dev(net.arch(), so);
      CalibrationOptions co;
      co.inputs = 50;
      co.repeats = 8;
      co.seed = seed;
      co.threads = 1;
      const Calibration cal =
          calibrate(dev, net, case_inputs(50, net.arch().inputs(), seed), co, c.truth.scaled(0.5));
      ASSERT_FALSE(cal.per_layer);
      covered += cal.scale.low <= 2 && 2 <= cal.scale.high;
      ++total;
    }
  }
  const double rate = static_cast<double>(covered) / total;
  if (std::getenv("GIFT_TEST_VERBOSE")) std::printf("output-only: %d of %d\n", covered, total);
  EXPECT_GE(rate, 0.85) << covered << " of " << total;
  EXPECT_LE(rate, 1.0);
}

// --- the larger measurement (scripts/calibration-coverage.sh) ----------------------------

int env_int(const char* name, int dflt) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : dflt;
}

std::string env_string(const char* name, const std::string& dflt) {
  const char* v = std::getenv(name);
  return v ? v : dflt;
}

std::vector<Case> study_cases(const std::string& widths) {
  std::vector<Case> cases;
  const size_t L = num_layers(widths);
  for (Activation act : {Activation::kRelu, Activation::kTanh}) {
    for (const Case& c : site_cases(widths, act, {0.05, 0.5})) cases.push_back(c);
    Case c;
    c.widths = widths;
    c.act = act;
    c.truth = NoiseModel::uniform(L, NoiseSite::kWeight, 1.0);
    c.scale = 1.0;
    c.name = act_name(act) + " weight 1.0";
    cases.push_back(c);
    for (const Case& s : static_cases(widths, act)) cases.push_back(s);
  }
  return cases;
}

// GIFT_STUDY_CHECKPOINT (a trained network) with GIFT_STUDY_DATA (its MNIST directory): that
// network on calibration inputs drawn from the training images, instead of random ones.
TEST(CalibrationCoverage, DISABLED_Study) {
  std::string widths = env_string("GIFT_STUDY_WIDTHS", "20-16-10");
  const std::string filter = env_string("GIFT_STUDY_FILTER", "");
  const int seeds = env_int("GIFT_STUDY_SEEDS", 40);
  const uint64_t first = static_cast<uint64_t>(env_int("GIFT_STUDY_FIRST", 5000));
  const std::string ckpt = env_string("GIFT_STUDY_CHECKPOINT", "");
  Network trained;
  Mat pool;
  if (!ckpt.empty()) {
    trained = io::load_checkpoint(ckpt).net;
    const data::Dataset d =
        data::load_mnist(env_string("GIFT_STUDY_DATA", "data/mnist"), data::Split::kTrain);
    pool = d.images.topRows(std::min<Eigen::Index>(d.images.rows(), 10000));
    widths.clear();
    for (int w : trained.arch().sizes) widths += (widths.empty() ? "" : "-") + std::to_string(w);
  }
  Tally all;
  std::vector<Case> cases = study_cases(widths);
  if (!ckpt.empty()) {
    widths += " trained";
    for (Case& c : cases) {
      c.net = &trained;
      c.pool = &pool;
    }
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
    const Tally t = run_case(c, seeds, first + 1000 * i, 100, 16, env_int("GIFT_STUDY_LAYER", -1));
    std::printf("%s (%s, %d devices)\n%s", c.name.c_str(), widths.c_str(), seeds,
                describe(t).c_str());
    std::fflush(stdout);
    all.add(t);
  }
  std::printf("ALL CASES\n%s", describe(all).c_str());
}

TEST(CalibrationCoverage, DISABLED_StudyOutputOnly) {
  const std::string widths = env_string("GIFT_STUDY_WIDTHS", "20-16-10");
  const std::string filter = env_string("GIFT_STUDY_FILTER", "");
  const int seeds = env_int("GIFT_STUDY_SEEDS", 40);
  const uint64_t first = static_cast<uint64_t>(env_int("GIFT_STUDY_FIRST", 5000));
  int all_n = 0, all_covered = 0;
  std::vector<Case> cases;
  for (Activation act : {Activation::kRelu, Activation::kTanh}) {
    for (const Case& c : site_cases(widths, act, {0.05, 0.5})) cases.push_back(c);
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
    int covered = 0;
    double ratio = 0, width = 0;
    for (int s = 0; s < seeds; ++s) {
      const uint64_t seed = first + 1000 * i + static_cast<uint64_t>(s);
      const Network net = case_net(c, seed);
      SimulatedDeviceOptions so;
      so.noise = c.truth;
      so.seed = seed;
      so.threads = 1;
      so.taps = false;
      SimulatedDevice dev(net.arch(), so);
      CalibrationOptions co;
      co.seed = seed;
      co.threads = 1;
      const Calibration cal = calibrate(dev, net, case_inputs(co.inputs, net.arch().inputs(), seed),
                                        co, c.truth.scaled(0.5));
      covered += cal.scale.low <= 2 && 2 <= cal.scale.high;
      ratio += cal.scale.mean / 2;
      width += (cal.scale.high - cal.scale.low) / 2;
    }
    std::printf(
        "%-22s output-only scale: coverage %3d/%3d = %.3f  mean est/true %.3f  "
        "width/true %.3f\n",
        c.name.c_str(), covered, seeds, static_cast<double>(covered) / seeds, ratio / seeds,
        width / seeds);
    std::fflush(stdout);
    all_n += seeds;
    all_covered += covered;
  }
  std::printf("ALL CASES output-only scale: coverage %d/%d = %.3f\n", all_covered, all_n,
              all_n ? static_cast<double>(all_covered) / all_n : 0.0);
}

}  // namespace
}  // namespace gift

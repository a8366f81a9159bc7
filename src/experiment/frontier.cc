#include "gift/experiment/frontier.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include "experiment_util.h"
#include "gift/core/error.h"
#include "gift/data/dataset.h"
#include "gift/insitu/simulated_device.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"
#include "gift/io/json.h"
#include "gift/io/model_json.h"
#include "gift/train/engine.h"
#include "gift/train/loss.h"

namespace gift::experiment {

using nlohmann::json;
using namespace detail;

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A count with thousands separators: 300000 -> "300,000" (means over seeds are rounded).
std::string count_text(double x) {
  std::string digits = fixed_text(std::round(x), 0);
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

// A noise model in the JSON form of noise_to_json, its number of layers taken from its lists
// (all of one length; none: no layers, an ideal device).
NoiseModel noise_of_json(const json& j, const std::string& what) {
  std::set<std::string> known = {"output_clip"};
  for (int s = 0; s < kNumNoiseSites; ++s) known.insert(to_string(static_cast<NoiseSite>(s)));
  reject_unknown(j, known, what);
  size_t layers = 0;
  bool found = false;
  for (int s = 0; s < kNumNoiseSites; ++s) {
    const char* site = to_string(static_cast<NoiseSite>(s));
    if (!j.contains(site)) continue;
    if (!j.at(site).is_array()) bad_value(what, site, "a list of one std per layer", j.at(site));
    if (found && j.at(site).size() != layers) {
      const std::string expected =
          "a list of " + std::to_string(layers) + " numbers (one per layer, as the other sites)";
      bad_value(what, site, expected, j.at(site));
    }
    layers = j.at(site).size();
    found = true;
  }
  NoiseModel m = io::noise_from_json(j, layers, what);
  if (j.contains("output_clip")) {
    m.output_clip = get_number(j, "output_clip", 0, 0, std::numeric_limits<double>::max(),
                               "a number >= 0 (0 = none)", what);
  }
  return m;
}

// A network's identity: architecture and every parameter's bits.
std::string fingerprint(const Network& net) {
  const auto& p = net.params();
  const std::string bytes(reinterpret_cast<const char*>(p.data()),
                          static_cast<size_t>(p.size()) * sizeof(p.data()[0]));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, fnv1a(net.arch().describe() + "|" + bytes));
  return buf;
}

// The record of config.json: what decides every number of the directory.
json record_of(const FrontierConfig& c, const NoiseModel& assumed, const Network& start,
               const Network& oracle) {
  return {{"frontier", c.to_json()},
          {"assumed", io::noise_to_json(assumed)},
          {"start", fingerprint(start)},
          {"oracle", fingerprint(oracle)}};
}

MeanCI undefined_stat() {
  MeanCI m;
  m.mean = m.low = m.high = kNaN;
  m.n = 0;
  return m;
}

// Mean and interval of accuracies over seeds. One seed, or seeds that all gave the same number
// (where they changed nothing, their spread is no interval), keep the first's Monte-Carlo one.
MeanCI accuracy_over(const std::vector<std::pair<double, Interval>>& v) {
  if (v.empty()) return undefined_stat();
  std::vector<double> x;
  for (const auto& p : v) x.push_back(p.first);
  MeanCI m = mean_ci95(x);
  if (std::all_of(x.begin(), x.end(), [&](double a) { return a == x[0]; })) {
    m.low = v[0].second.low;
    m.high = v[0].second.high;
  }
  return m;
}

// "35.08 [34.70, 35.47]" (`unit` after the mean: "35.08% [34.70, 35.47]").
std::string percent_ci(const MeanCI& m, const std::string& unit = "") {
  if (m.n == 0) return "-";
  return fixed_text(100 * m.mean, 2) + unit + " [" + fixed_text(100 * m.low, 2) + ", " +
         fixed_text(100 * m.high, 2) + "]";
}

std::string recovery_text(const MeanCI& m) {
  if (m.n == 0) return "-";
  if (m.n == 1) return fixed_text(m.mean, 2);
  return fixed_text(m.mean, 2) + " [" + fixed_text(m.low, 2) + ", " + fixed_text(m.high, 2) + "]";
}

// "true noise sum_add=3, 6-bit weights (device seed 7)"; without the seed if not `seed`.
std::string device_text(const FrontierConfig& c, bool seed = true) {
  std::string s = "true noise " + (c.device_noise.any() ? c.device_noise.describe() : "none");
  if (c.imperfections.gain_std > 0) s += ", gain error " + number_text(c.imperfections.gain_std);
  if (c.imperfections.weight_bits > 0) {
    s += ", " + std::to_string(c.imperfections.weight_bits) + "-bit weights";
  }
  if (!c.taps) s += ", no taps";
  return seed ? s + " (device seed " + std::to_string(c.device_seed) + ")" : s;
}

std::string seeds_text(const std::vector<uint64_t>& seeds) {
  std::string s;
  for (uint64_t x : seeds) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return std::to_string(seeds.size()) + (seeds.size() == 1 ? " seed (" : " seeds (") + s + ")";
}

}  // namespace

// ------------------------------------------------------------------ ladders

std::vector<Rung> default_ladder() {
  return {{1000, 4000},  {3000, 4000},    {10000, 5000},
          {30000, 6000}, {100000, 10000}, {300000, 30000}};
}

std::vector<Rung> quick_ladder() { return {{1000, 4000}, {10000, 5000}, {100000, 10000}}; }

std::vector<Rung> parse_ladder(const std::string& text, const std::string& what) {
  const std::string expected =
      "rungs GRADIENTS:PASSES separated by commas, e.g. \"1000:3000,30000:5000\"";
  const std::string shown_text = text.size() <= 80 ? text : text.substr(0, 77) + "...";
  std::vector<Rung> ladder;
  std::stringstream ss(text);
  std::string item;
  const auto budget = [&](const std::string& s, const std::string& rung) -> uint64_t {
    if (s.empty() || s.size() > 16 || s.find_first_not_of("0123456789") != std::string::npos) {
      throw InputError(what + ": expected " + expected + ", found '" + rung + "'");
    }
    const uint64_t v = std::stoull(s);
    if (v == 0 || v > kMaxFrontierBudget) {
      throw InputError(what + ": a budget must be in [1, " + std::to_string(kMaxFrontierBudget) +
                       "], found '" + rung + "'");
    }
    return v;
  };
  if (text.empty()) throw InputError(what + ": expected " + expected + ", found nothing");
  while (std::getline(ss, item, ',')) {
    const size_t colon = item.find(':');
    if (colon == std::string::npos) {
      throw InputError(what + ": expected " + expected + ", found '" + item.substr(0, 40) + "'");
    }
    const Rung r{budget(item.substr(0, colon), item.substr(0, 40)),
                 budget(item.substr(colon + 1), item.substr(0, 40))};
    if (std::find(ladder.begin(), ladder.end(), r) != ladder.end()) {
      throw InputError(what + ": the rung " + item + " is given twice");
    }
    ladder.push_back(r);
    if (ladder.size() > kMaxFrontierRungs) {
      throw InputError(what + ": more than " + std::to_string(kMaxFrontierRungs) + " rungs");
    }
  }
  if (text.back() == ',' || ladder.empty()) {
    throw InputError(what + ": expected " + expected + ", found '" + shown_text + "'");
  }
  return ladder;
}

std::string ladder_text(const std::vector<Rung>& ladder) {
  std::string s;
  for (const Rung& r : ladder) {
    s += (s.empty() ? "" : ",") + std::to_string(r.gradients) + ":" + std::to_string(r.passes);
  }
  return s;
}

// ------------------------------------------------------------------ config

FrontierConfig FrontierConfig::from_json(const json& j, const std::string& what) {
  try {
    return parse(j, what);
  } catch (const InputError& e) {
    const std::string msg = e.what();
    if (msg.rfind(what, 0) == 0) throw;
    throw InputError(what + ": " + msg);
  }
}

FrontierConfig FrontierConfig::parse(const json& j, const std::string& what) {
  reject_unknown(j,
                 {"checkpoint", "oracle", "dataset", "data_dir", "train_limit", "test_limit",
                  "device", "methods", "ladder", "seeds", "finetune", "eval_repeats"},
                 what);
  constexpr uint64_t kAny = std::numeric_limits<uint64_t>::max();
  FrontierConfig c;
  c.checkpoint = get_string(j, "checkpoint", c.checkpoint, "a path (a string)", what);
  c.oracle = get_string(j, "oracle", c.oracle, "a path (a string)", what);
  c.dataset = get_string(j, "dataset", c.dataset, "mnist or fashion-mnist", what);
  c.data_dir = get_string(j, "data_dir", c.data_dir, "a directory (a string)", what);
  c.train_limit = get_integer<size_t>(j, "train_limit", c.train_limit, 0, kAny, what);
  c.test_limit = get_integer<size_t>(j, "test_limit", c.test_limit, 0, kAny, what);
  c.eval_repeats = get_integer<int>(j, "eval_repeats", c.eval_repeats, 2, kMaxSweepRepeats, what);
  if (j.contains("device")) {
    const json& d = j.at("device");
    const std::string w = what + ": device";
    reject_unknown(d, {"noise", "gain_std", "weight_bits", "seed", "taps"}, w);
    if (d.contains("noise")) c.device_noise = noise_of_json(d.at("noise"), w + ": noise");
    c.imperfections.gain_std =
        get_number(d, "gain_std", 0, 0, std::numeric_limits<double>::max(), "a number >= 0", w);
    c.imperfections.weight_bits = get_integer<int>(d, "weight_bits", 0, 0, 24, w);
    c.device_seed = get_integer<uint64_t>(d, "seed", c.device_seed, 0, kAny, w);
    if (d.contains("taps")) {
      if (!d.at("taps").is_boolean()) bad_value(w, "taps", "true or false", d.at("taps"));
      c.taps = d.at("taps").get<bool>();
    }
  }
  if (j.contains("methods")) {
    c.methods.clear();
    for (const json& m : get_list(j, "methods", "a non-empty list of method names", what)) {
      if (!m.is_string()) bad_value(what, "methods", "a list of method names (strings)", m);
      c.methods.push_back(m.get<std::string>());
    }
  }
  if (j.contains("ladder")) {
    const std::string expected =
        "a non-empty list of rungs {\"gradients\": G, \"passes\": P} (integers >= 1)";
    c.ladder.clear();
    for (const json& r : get_list(j, "ladder", expected, what)) {
      if (!r.is_object()) bad_value(what, "ladder", expected, r);
      reject_unknown(r, {"gradients", "passes"}, what + ": ladder");
      if (!r.contains("gradients") || !r.contains("passes")) bad_value(what, "ladder", expected, r);
      c.ladder.push_back(
          {integer_value(r.at("gradients"), "ladder.gradients", 1, kMaxFrontierBudget, what),
           integer_value(r.at("passes"), "ladder.passes", 1, kMaxFrontierBudget, what)});
    }
  }
  if (j.contains("seeds")) {
    c.seeds.clear();
    for (const json& s : get_list(j, "seeds", "a non-empty list of seeds (integers >= 0)", what)) {
      c.seeds.push_back(integer_value(s, "seeds", 0, kAny, what));
    }
  }
  if (j.contains("finetune")) {
    finetune_from_json(j.at("finetune"), c.finetune, c.calib_size, false, what + ": finetune");
  }
  c.validate();
  return c;
}

json FrontierConfig::to_json() const {
  json ladder_j = json::array();
  for (const Rung& r : ladder)
    ladder_j.push_back({{"gradients", r.gradients}, {"passes", r.passes}});
  return {{"checkpoint", checkpoint},
          {"oracle", oracle},
          {"dataset", dataset},
          {"data_dir", data_dir},
          {"train_limit", train_limit},
          {"test_limit", test_limit},
          {"device",
           {{"noise", io::noise_to_json(device_noise)},
            {"gain_std", imperfections.gain_std},
            {"weight_bits", imperfections.weight_bits},
            {"seed", device_seed},
            {"taps", taps}}},
          {"methods", methods},
          {"ladder", ladder_j},
          {"seeds", seeds},
          {"finetune", finetune_to_json(finetune, calib_size, false)},
          {"eval_repeats", eval_repeats}};
}

size_t FrontierConfig::cells() const { return seeds.size() * (1 + methods.size() * ladder.size()); }

void FrontierConfig::validate() const {
  if (!dataset.empty() && dataset != "mnist" && dataset != "fashion-mnist") {
    throw InputError("frontier: dataset must be mnist or fashion-mnist, found '" + dataset + "'");
  }
  if (methods.empty()) throw InputError("frontier: methods must not be empty");
  std::set<std::string> method_set;
  for (const std::string& m : methods) {
    if (m == "none") {
      throw InputError(
          "frontier: method 'none' is not a rung's method: the start is measured on every seed");
    }
    make_method(m);
    if (!method_set.insert(m).second) {
      throw InputError("frontier: method '" + m + "' is given twice");
    }
  }
  if (!taps && method_set.count("hil")) {
    throw InputError("frontier: method hil needs a device that exposes every layer's sums (taps)");
  }
  if (ladder.empty()) throw InputError("frontier: the ladder must not be empty");
  if (ladder.size() > kMaxFrontierRungs) {
    throw InputError("frontier: the ladder has " + std::to_string(ladder.size()) +
                     " rungs, more than the limit of " + std::to_string(kMaxFrontierRungs));
  }
  if (seeds.empty()) throw InputError("frontier: seeds must not be empty");
  if (seeds.size() > kMaxFrontierSeeds) {
    throw InputError("frontier: " + std::to_string(seeds.size()) +
                     " seeds, more than the limit of " + std::to_string(kMaxFrontierSeeds));
  }
  if (std::set<uint64_t>(seeds.begin(), seeds.end()).size() != seeds.size()) {
    throw InputError("frontier: a seed is given twice");
  }
  check_range("frontier", "eval_repeats", eval_repeats, 2, kMaxSweepRepeats);
  check_range("frontier", "threads", threads, 0, kMaxThreads);
  check_finetune("frontier", finetune, calib_size);
  {
    // FinetuneOptions::validate wants the architecture only for the noise models; those are
    // checked against the network by run_frontier.
    FinetuneOptions o = finetune;
    o.assumed = NoiseModel::none(1);
    if (!o.calibrate && o.noise.layers.empty()) o.noise = NoiseModel::none(1);
    try {
      o.validate(Architecture::from_string("1-1", Activation::kRelu, 1.0));
    } catch (const InputError& e) {
      throw InputError(std::string("frontier: finetune: ") + e.what());
    }
  }
  if (!device_noise.layers.empty()) {
    device_noise.validate(device_noise.layers.size(), "frontier: device noise");
  } else if (!(device_noise.output_clip >= 0) || !std::isfinite(device_noise.output_clip)) {
    throw InputError("frontier: device output_clip must be a number >= 0");
  }
  imperfections.validate("frontier: device");
  for (size_t i = 0; i < ladder.size(); ++i) {
    const Rung& r = ladder[i];
    const std::string rung = std::to_string(r.gradients) + ":" + std::to_string(r.passes);
    if (r.gradients < 1 || r.passes < 1 || r.gradients > kMaxFrontierBudget ||
        r.passes > kMaxFrontierBudget) {
      throw InputError("frontier: rung " + rung + ": each budget must be in [1, " +
                       std::to_string(kMaxFrontierBudget) + "]");
    }
    if (std::find(ladder.begin(), ladder.begin() + static_cast<std::ptrdiff_t>(i), r) !=
        ladder.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw InputError("frontier: the rung " + rung + " is given twice");
    }
  }
}

FrontierConfig frontier_of_sweep(const SweepConfig& sweep, const std::string& sweep_dir,
                                 size_t grid, uint64_t seed, bool quick) {
  if (grid >= sweep.grids.size()) throw InternalError("frontier_of_sweep: no such grid");
  const GridSpec& g = sweep.grids[grid];
  const double assumed = *std::min_element(g.assumed.begin(), g.assumed.end());
  const double truth = *std::max_element(g.truth.begin(), g.truth.end());
  FrontierConfig c;
  c.checkpoint = sweep_model_path(sweep_dir, g.name, assumed, seed);
  c.oracle = sweep_model_path(sweep_dir, g.name, truth, seed);
  c.dataset = sweep.dataset;
  c.data_dir = sweep.data_dir;
  c.train_limit = sweep.train_limit;
  c.test_limit = sweep.test_limit;
  c.device_noise = g.pattern.scaled(truth);
  c.imperfections = sweep.imperfections;
  c.device_seed = sweep_device_seed(g.name, truth, seed);
  c.finetune = sweep.finetune;
  c.finetune.retrain_epochs = std::max(c.finetune.retrain_epochs, FinetuneOptions().retrain_epochs);
  c.finetune.budget_gradients = c.finetune.budget_passes = 0;  // each rung's
  c.calib_size = sweep.calib_size;
  c.eval_repeats = sweep.eval_repeats;
  c.ladder = quick ? quick_ladder() : default_ladder();
  c.seeds = quick ? std::vector<uint64_t>{seed} : sweep.seeds;
  c.validate();
  return c;
}

// ------------------------------------------------------------------ rows

std::string frontier_key(uint64_t seed, const std::string& method, const Rung& rung) {
  return std::to_string(seed) + "|" + method + "|" + std::to_string(rung.gradients) + "|" +
         std::to_string(rung.passes);
}

json frontier_row_to_json(const FrontierRow& r) {
  return {{"key", r.key},
          {"seed", r.seed},
          {"method", r.method},
          {"budget_gradients", r.budget.gradients},
          {"budget_passes", r.budget.passes},
          {"sample_gradients", r.sample_gradients},
          {"device_passes", r.device_passes},
          {"device_programmings", r.device_programmings},
          {"accepted", r.accepted},
          {"budget_limited", r.budget_limited},
          {"dataset", r.dataset},
          {"acc_before", r.acc_before},
          {"acc_before_ci", {r.acc_before_ci.low, r.acc_before_ci.high}},
          {"acc_after", r.acc_after},
          {"acc_after_ci", {r.acc_after_ci.low, r.acc_after_ci.high}},
          {"acc_oracle", r.acc_oracle},
          {"acc_oracle_ci", {r.acc_oracle_ci.low, r.acc_oracle_ci.high}},
          {"recovery", r.recovery ? json(*r.recovery) : json(nullptr)},
          {"seconds", r.seconds},
          {"digital_seconds", r.digital_seconds}};
}

FrontierRow frontier_row_from_json(const json& j) {
  const std::string what = "frontier row";
  if (!j.is_object()) throw InputError(what + ": expected a JSON object, found " + shown(j));
  const auto need = [&](const char* key) -> const json& {
    if (!j.contains(key)) throw InputError(what + ": field '" + key + "' is missing");
    return j.at(key);
  };
  constexpr uint64_t kAny = std::numeric_limits<uint64_t>::max();
  const double kMax = std::numeric_limits<double>::max();
  const auto count = [&](const char* key) { return integer_value(need(key), key, 0, kAny, what); };
  const auto accuracy = [&](const char* key) {
    need(key);
    return get_number(j, key, 0, 0, 1, "an accuracy in [0, 1]", what);
  };
  const auto interval = [&](const char* key) {
    const json& v = need(key);
    const std::string expected = "[low, high] with 0 <= low <= high <= 1";
    if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number()) {
      bad_value(what, key, expected, v);
    }
    const Interval ci{v[0].get<double>(), v[1].get<double>()};
    if (!(ci.low >= 0 && ci.low <= ci.high && ci.high <= 1)) bad_value(what, key, expected, v);
    return ci;
  };
  const auto flag = [&](const char* key) {
    const json& v = need(key);
    if (!v.is_boolean()) bad_value(what, key, "true or false", v);
    return v.get<bool>();
  };
  FrontierRow r;
  need("key");
  r.key = get_string(j, "key", "", "a string", what);
  r.seed = count("seed");
  need("method");
  r.method = get_string(j, "method", "", "a method name", what);
  r.budget = {count("budget_gradients"), count("budget_passes")};
  r.sample_gradients = count("sample_gradients");
  r.device_passes = count("device_passes");
  r.device_programmings = count("device_programmings");
  r.accepted = flag("accepted");
  r.budget_limited = flag("budget_limited");
  need("dataset");
  r.dataset = get_string(j, "dataset", "", "a string", what);
  r.acc_before = accuracy("acc_before");
  r.acc_before_ci = interval("acc_before_ci");
  r.acc_after = accuracy("acc_after");
  r.acc_after_ci = interval("acc_after_ci");
  r.acc_oracle = accuracy("acc_oracle");
  r.acc_oracle_ci = interval("acc_oracle_ci");
  if (!need("recovery").is_null()) {
    r.recovery = get_number(j, "recovery", 0, -kMax, kMax, "a number or null", what);
  }
  need("seconds");
  r.seconds = get_number(j, "seconds", 0, 0, kMax, "seconds (a number >= 0)", what);
  need("digital_seconds");
  r.digital_seconds = get_number(j, "digital_seconds", 0, 0, kMax, "seconds (a number >= 0)", what);
  const std::string key = frontier_key(r.seed, r.method, r.budget);
  if (r.key != key)
    bad_value(what, "key", "'" + key + "' (seed|method|gradients|passes)", j["key"]);
  return r;
}

std::vector<FrontierRow> parse_frontier_rows(const std::string& text, const std::string& path) {
  std::vector<FrontierRow> rows;
  std::set<std::string> keys;
  size_t pos = 0;
  for (size_t line_no = 1;; ++line_no) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // a last line without its newline: cut mid-write
    const std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = "'" + path + "' line " + std::to_string(line_no);
    FrontierRow row;
    try {
      row = frontier_row_from_json(io::parse_json(line, where));
    } catch (const InputError& e) {
      const std::string msg = e.what();
      if (msg.rfind(where, 0) == 0) throw;
      throw InputError(where + ": " + msg);
    }
    if (keys.insert(row.key).second) rows.push_back(std::move(row));
  }
  return rows;
}

// ------------------------------------------------------------------ aggregation and table

FrontierTable aggregate_frontier(const std::vector<FrontierRow>& rows,
                                 const FrontierConfig& config) {
  std::map<std::string, const FrontierRow*> by_key;
  for (const FrontierRow& r : rows) by_key.emplace(r.key, &r);
  FrontierTable t;
  std::vector<std::pair<double, Interval>> start, oracle;
  for (uint64_t seed : config.seeds) {
    const auto it = by_key.find(frontier_key(seed, "none", {0, 0}));
    if (it == by_key.end()) continue;
    start.emplace_back(it->second->acc_before, it->second->acc_before_ci);
    oracle.emplace_back(it->second->acc_oracle, it->second->acc_oracle_ci);
    t.dataset = it->second->dataset;
    ++t.seeds;
  }
  t.start = accuracy_over(start);
  t.oracle = accuracy_over(oracle);
  std::vector<std::string> methods = config.methods;
  std::stable_sort(methods.begin(), methods.end(), [](const std::string& a, const std::string& b) {
    return method_rank(a) < method_rank(b);
  });
  for (const std::string& m : methods) {
    for (const Rung& rung : config.ladder) {
      FrontierPoint p;
      p.method = m;
      p.budget = rung;
      std::vector<std::pair<double, Interval>> acc;
      std::vector<double> rec;
      for (uint64_t seed : config.seeds) {
        const auto it = by_key.find(frontier_key(seed, m, rung));
        if (it == by_key.end()) continue;
        const FrontierRow& r = *it->second;
        ++p.seeds;
        p.sample_gradients += static_cast<double>(r.sample_gradients);
        p.device_passes += static_cast<double>(r.device_passes);
        p.seconds += r.seconds;
        p.accepted += r.accepted ? 1 : 0;
        p.budget_limited += r.budget_limited ? 1 : 0;
        acc.emplace_back(r.acc_after, r.acc_after_ci);
        // Recomputed from the accuracies, so every row follows one rule.
        if (const std::optional<double> x = recovery_of(r.acc_before, r.acc_after, r.acc_oracle)) {
          rec.push_back(*x);
        }
        if (t.dataset.empty()) t.dataset = r.dataset;
      }
      if (p.seeds == 0) continue;
      p.sample_gradients /= p.seeds;
      p.device_passes /= p.seeds;
      p.seconds /= p.seeds;
      p.accuracy = accuracy_over(acc);
      p.recovery = rec.empty() ? undefined_stat() : mean_ci95(rec);
      t.points.push_back(p);
    }
  }
  return t;
}

std::string frontier_markdown(const FrontierTable& t, const FrontierConfig& c,
                              const NoiseModel& assumed) {
  std::string s = "# Cost-recovery frontier\n\n";
  s += (t.dataset.empty() ? c.dataset : t.dataset) + "; start `" + c.checkpoint + "` (trained at " +
       assumed.describe() + "); oracle `" + c.oracle +
       "` (trained at the true noise); device: " + device_text(c) + ".\n";
  s += seeds_text(c.seeds) + "; " + std::to_string(c.calib_size) +
       " labelled images of the test split are the lab's (per seed), accuracies are over the rest "
       "of it and " +
       std::to_string(c.eval_repeats) + " device passes; fit data " +
       to_string(c.finetune.fit_data) + ".\n\n";
  s += "Start (no fine-tuning): " + percent_ci(t.start, "%") +
       ". Oracle: " + percent_ci(t.oracle, "%") +
       ". Recovery = (after - before) / (oracle - before): 0 is the start, 1 the oracle.\n\n";
  s += "| method | budget: gradients | budget: passes | gradients spent | passes spent | "
       "accuracy (%) | recovery | accepted | budget-limited | seconds |\n";
  s += "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  const std::string dash = "-";
  const bool gap =
      t.start.n > 0 && t.oracle.n > 0 && t.oracle.mean - t.start.mean >= kMinRecoveryGap;
  s += "| start (none) | " + dash + " | " + dash + " | 0 | 0 | " + percent_ci(t.start) + " | " +
       (gap ? "0" : dash) + " | " + dash + " | " + dash + " | " + dash + " |\n";
  for (const FrontierPoint& p : t.points) {
    const std::string of = "/" + std::to_string(p.seeds);
    s += "| " + p.method + " | " + count_text(static_cast<double>(p.budget.gradients)) + " | " +
         count_text(static_cast<double>(p.budget.passes)) + " | " + count_text(p.sample_gradients) +
         " | " + count_text(p.device_passes) + " | " + percent_ci(p.accuracy) + " | " +
         recovery_text(p.recovery) + " | " + std::to_string(p.accepted) + of + " | " +
         std::to_string(p.budget_limited) + of + " | " + fixed_text(p.seconds, 1) + " |\n";
  }
  s += "| oracle | " + dash + " | " + dash + " | " + dash + " | " + dash + " | " +
       percent_ci(t.oracle) + " | " + (gap ? "1" : dash) + " | " + dash + " | " + dash + " | " +
       dash + " |\n\n";
  s += "Spent: means over seeds of what each method used (gradients: per-sample gradient "
       "evaluations; passes: samples sent through the device, calibration and scoring included; "
       "the test accuracy's passes are not a method's cost). Accuracy: mean with a 95% interval "
       "(over seeds; with one seed over noise draws). Recovery: mean over the seeds where the "
       "oracle beats the start by at least " +
       fixed_text(100 * kMinRecoveryGap, 0) +
       " point, with a t interval over seeds. Accepted: seeds whose result beat the start on the "
       "method's scoring images; budget-limited: seeds where a budget cut the method's plan.\n";
  return s;
}

std::vector<Figure> frontier_figures(const FrontierTable& t, const FrontierConfig& c,
                                     const NoiseModel& assumed) {
  bool any_recovery = false;
  for (const FrontierPoint& p : t.points) any_recovery = any_recovery || p.recovery.n > 0;
  std::vector<std::string> methods;
  for (const FrontierPoint& p : t.points) {
    if (std::find(methods.begin(), methods.end(), p.method) == methods.end()) {
      methods.push_back(p.method);
    }
  }
  const bool bars = t.seeds > 1;
  std::vector<Figure> figures;
  for (const bool by_gradients : {true, false}) {
    Figure f;
    f.name = by_gradients ? "frontier-gradients" : "frontier-passes";
    const std::string x_name = by_gradients ? "per-sample gradients spent" : "device passes spent";
    f.data = "# " + f.name + ": per method, one line per rung: " + x_name + " (mean over seeds), " +
             (any_recovery ? "recovery" : "accuracy %") +
             " (mean, 95% low, 95% high), budget gradients, budget passes; sorted by x; rungs "
             "where nothing was spent are left out (log x)\n";
    double y_lo = any_recovery ? 0 : 100 * t.start.mean,
           y_hi = any_recovery ? 1 : 100 * t.oracle.mean;
    for (const std::string& m : methods) {
      f.data += "# method " + m + "\n";
      std::vector<const FrontierPoint*> pts;
      for (const FrontierPoint& p : t.points) {
        const double x = by_gradients ? p.sample_gradients : p.device_passes;
        const MeanCI& y = any_recovery ? p.recovery : p.accuracy;
        if (p.method == m && x > 0 && y.n > 0) pts.push_back(&p);
      }
      std::stable_sort(pts.begin(), pts.end(), [&](const FrontierPoint* a, const FrontierPoint* b) {
        return by_gradients ? a->sample_gradients < b->sample_gradients
                            : a->device_passes < b->device_passes;
      });
      for (const FrontierPoint* p : pts) {
        const double scale = any_recovery ? 1 : 100;
        const MeanCI& y = any_recovery ? p->recovery : p->accuracy;
        f.data += number_text(by_gradients ? p->sample_gradients : p->device_passes) + " " +
                  number_text(scale * y.mean) + " " + number_text(scale * y.low) + " " +
                  number_text(scale * y.high) + " " + std::to_string(p->budget.gradients) + " " +
                  std::to_string(p->budget.passes) + "\n";
        y_lo = std::min(y_lo, scale * (bars ? y.low : y.mean));
        y_hi = std::max(y_hi, scale * (bars ? y.high : y.mean));
      }
      if (pts.empty()) f.data += "# (no point)\n";
      f.data += "\n\n";
    }
    const double pad = 0.08 * std::max(y_hi - y_lo, any_recovery ? 1.0 : 1.0);
    std::string& cmd = f.commands;
    const std::string dataset = t.dataset.empty() ? c.dataset : t.dataset;
    cmd +=
        "set title " +
        gp_lines({(dataset.empty() ? "" : dataset + ", ") + "cost-recovery frontier: " +
                      (any_recovery ? "recovery" : "device test accuracy") + " against " + x_name,
                  "start trained at " + assumed.describe() + "; device " + device_text(c, false) +
                      "; " +
                      (t.seeds == 1 ? "1 seed"
                                    : "mean over " + std::to_string(t.seeds) + " seeds" +
                                          ", bars: 95% interval")}) +
        "\n";
    cmd += "set xlabel " +
           gp_quote(x_name + (by_gradients ? " (log scale)"
                                           : " (samples through the chip, "
                                             "calibration included; log scale)")) +
           "\n";
    cmd += "set ylabel " +
           gp_quote(any_recovery ? "recovery (fraction of the gap from the start to the oracle)"
                                 : "device test accuracy (%; recovery undefined: the oracle does "
                                   "not beat the start)") +
           "\n";
    cmd += "set logscale x\nset format x '%.0s%c'\nset mxtics 10\n";
    cmd += "set offsets graph 0.08, graph 0.08, 0, 0\n";
    cmd += "set yrange [" + number_text(y_lo - pad) + ":" + number_text(y_hi + pad) + "]\n";
    cmd += "set key outside right top vertical Left reverse samplen 3 spacing 1.3\n";
    cmd += "set grid xtics ytics mxtics\n";
    const double y_start = any_recovery ? 0 : 100 * t.start.mean;
    const double y_oracle = any_recovery ? 1 : 100 * t.oracle.mean;
    cmd += "set arrow 1 from graph 0, first " + number_text(y_oracle) + " to graph 1, first " +
           number_text(y_oracle) + " nohead dt 2 lw 2 lc rgb '#000000'\n";
    cmd += "set label 1 " +
           gp_quote("oracle (trained at the true noise): " + fixed_text(100 * t.oracle.mean, 2) +
                    "%") +
           " at graph 0.01, first " + number_text(y_oracle) + " offset 0, 0.7 tc rgb '#000000'\n";
    cmd += "set arrow 2 from graph 0, first " + number_text(y_start) + " to graph 1, first " +
           number_text(y_start) + " nohead dt 3 lw 2 lc rgb '#6e6e6e'\n";
    cmd += "set label 2 " +
           gp_quote("start (no fine-tuning): " + fixed_text(100 * t.start.mean, 2) + "%") +
           " at graph 0.01, first " + number_text(y_start) + " offset 0, -0.9 tc rgb '#6e6e6e'\n";
    std::vector<std::string> parts;
    const std::string dat = gp_quote(f.name + ".dat");
    for (size_t i = 0; i < methods.size(); ++i) {
      const MethodStyle st = method_style(methods[i]);
      const std::string block = dat + " index " + std::to_string(i);
      if (bars) {
        parts.push_back(block + " using 1:2:3:4 with yerrorbars lc rgb " + gp_quote(st.color) +
                        " pt 0 notitle");
      }
      parts.push_back(block + " using 1:2 with linespoints lc rgb " + gp_quote(st.color) +
                      " lw 2 pt " + std::to_string(st.point) + " ps 1.4 title " +
                      gp_quote(methods[i]));
    }
    if (parts.empty()) {  // nothing measured yet: an empty frame with the marks
      parts.push_back("1/0 notitle");
      cmd += "set xrange [1:10]\n";
    }
    cmd += "plot ";
    for (size_t i = 0; i < parts.size(); ++i) cmd += (i ? ", \\\n     " : "") + parts[i];
    cmd += "\n";
    figures.push_back(std::move(f));
  }
  return figures;
}

// ------------------------------------------------------------------ running

namespace {

// A chip that stops whoever touches it: program and forward throw Reached.
class StopAtFirstUse : public Device {
 public:
  struct Reached {};
  explicit StopAtFirstUse(DeviceInfo info) : info_(std::move(info)) {}
  DeviceInfo info() const override { return info_; }
  void program(const Network&) override { throw Reached{}; }
  DeviceOutput forward(const Mat&, bool) override { throw Reached{}; }
  DeviceCounters counters() const override { return {}; }

 private:
  DeviceInfo info_;
};

FrontierSummary run_case(const FrontierConfig& cfg, const Network& start, const NoiseModel& assumed,
                         const Network& oracle, const std::string& dataset_default,
                         const std::string& dir, const FrontierCallbacks& cb) {
  cfg.validate();
  const auto t_start = Clock::now();
  const auto log = [&](const std::string& s) {
    if (cb.log) cb.log(s);
  };
  if (dir.empty()) throw InputError("frontier: expected an output directory, found an empty path");
  const std::string config_path = dir + "/config.json";
  const std::string rows_path = dir + "/frontier.jsonl";

  // The case: the networks and the device against each other.
  const Architecture& arch = start.arch();
  if (oracle.arch().sizes != arch.sizes || oracle.arch().activations != arch.activations) {
    throw InputError("frontier: the oracle is a " + oracle.arch().describe() +
                     " network, the start a " + arch.describe());
  }
  const size_t L = arch.num_layers();
  NoiseModel device_noise = cfg.device_noise;
  if (device_noise.layers.empty()) {
    const double clip = device_noise.output_clip;
    device_noise = NoiseModel::none(L);
    device_noise.output_clip = clip;
  }
  if (device_noise.layers.size() != L) {
    throw InputError("frontier: the device noise has " +
                     std::to_string(device_noise.layers.size()) + " layers, the network " +
                     std::to_string(L));
  }
  SimulatedDeviceOptions so;
  so.noise = device_noise;
  so.imperfections = cfg.imperfections;
  so.seed = cfg.device_seed;
  so.taps = cfg.taps;
  so.threads = cfg.threads;
  { SimulatedDevice check(arch, so); }  // validates the device against the network
  FinetuneOptions base = cfg.finetune;
  base.assumed = assumed;
  base.threads = cfg.threads;
  base.calibration.threads = cfg.threads;
  try {
    FinetuneOptions o = base;
    o.validate(arch);
  } catch (const InputError& e) {
    throw InputError(std::string("frontier: ") + e.what());
  }

  // What a previous run left: read only, so that a refusal creates nothing.
  if (path_exists(dir)) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      throw InputError("cannot use '" + dir + "' as the frontier directory: it is not a directory");
    }
  }
  const std::string record_text = record_of(cfg, assumed, start, oracle).dump(2) + "\n";
  if (path_exists(config_path) && io::read_file(config_path) != record_text) {
    throw InputError(dir + " holds a frontier with another configuration or other networks (" +
                     config_path + "); use another output directory");
  }
  const std::string rows_text = path_exists(rows_path) ? io::read_file(rows_path) : "";
  std::map<std::string, FrontierRow> done;
  for (FrontierRow& r : parse_frontier_rows(rows_text, rows_path))
    done.emplace(r.key, std::move(r));
  const size_t complete_bytes =
      rows_text.rfind('\n') == std::string::npos ? 0 : rows_text.rfind('\n') + 1;

  struct Cell {
    uint64_t seed;
    std::string method;  // "none": the start
    Rung rung;
    std::string key;
  };
  std::vector<Cell> cells;
  for (uint64_t seed : cfg.seeds) {
    cells.push_back({seed, "none", {0, 0}, frontier_key(seed, "none", {0, 0})});
    for (const Rung& rung : cfg.ladder) {
      for (const std::string& m : cfg.methods)
        cells.push_back({seed, m, rung, frontier_key(seed, m, rung)});
    }
  }
  FrontierSummary summary;
  summary.cells_total = cells.size();
  size_t todo = 0;
  for (const Cell& c : cells) todo += done.count(c.key) ? 0 : 1;
  summary.cells_skipped = cells.size() - todo;
  if (summary.cells_skipped > 0) {
    log("resuming: " + std::to_string(summary.cells_skipped) + " of " +
        std::to_string(cells.size()) + " cells already finished in " + rows_path);
  }
  if (todo == 0) {
    summary.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
    return summary;
  }

  // The data, checked against the network, before the first file is created.
  const std::string dataset = cfg.dataset.empty() ? dataset_default : cfg.dataset;
  if (dataset != "mnist" && dataset != "fashion-mnist") {
    throw InputError("frontier: dataset must be mnist or fashion-mnist, found '" + dataset + "'");
  }
  const std::string data_dir = cfg.data_dir.empty() ? "data/" + dataset : cfg.data_dir;
  data::Dataset train_set = data::load_dataset(dataset, data_dir, data::Split::kTrain);
  data::Dataset test_set = data::load_dataset(dataset, data_dir, data::Split::kTest);
  if (cfg.train_limit > 0 && cfg.train_limit < train_set.size())
    train_set = data::subset(train_set, 0, cfg.train_limit);
  if (cfg.test_limit > 0 && cfg.test_limit < test_set.size())
    test_set = data::subset(test_set, 0, cfg.test_limit);
  check_labelled_data(arch, train_set.images, train_set.labels,
                      "frontier: the training set of " + data_dir);
  check_labelled_data(arch, test_set.images, test_set.labels,
                      "frontier: the test set of " + data_dir);
  if (cfg.calib_size >= test_set.size()) {
    throw InputError("frontier: calib_size " + std::to_string(cfg.calib_size) +
                     " leaves none of the " + std::to_string(test_set.size()) + " test images" +
                     (cfg.test_limit > 0 ? " (test_limit)" : "") + " of " + data_dir +
                     " to measure accuracy on (the lab's images are drawn from the test split)");
  }
  const LabelledSet train{std::move(train_set.images), std::move(train_set.labels)};  // no copy
  const LabelledSet test{std::move(test_set.images), std::move(test_set.labels)};
  // Per seed, as gift finetune and the sweep split it: the lab's labelled images and the images
  // every accuracy is measured on. Made for one seed at a time (cells run seed by seed).
  std::pair<uint64_t, LabSplit> lab{cfg.seeds.front(),
                                    lab_split(test, cfg.calib_size, cfg.seeds.front())};
  const auto lab_of = [&](uint64_t seed) -> const LabSplit& {
    if (lab.first != seed) lab = {seed, lab_split(test, cfg.calib_size, seed)};
    return lab.second;
  };

  // Every method with the ladder's smallest pass budget, on a device that stops it at its first
  // use: what a method refuses before it touches the chip (a budget below its fixed cost of
  // calibration and scoring) is refused here, before any file exists.
  {
    const Rung smallest =
        *std::min_element(cfg.ladder.begin(), cfg.ladder.end(),
                          [](const Rung& a, const Rung& b) { return a.passes < b.passes; });
    const DeviceInfo info = SimulatedDevice(arch, so).info();
    for (const std::string& m : cfg.methods) {
      FinetuneOptions o = base;
      o.seed = cfg.seeds.front();
      o.budget_gradients = smallest.gradients;
      o.budget_passes = smallest.passes;
      StopAtFirstUse device(info);
      Network net = start;
      try {
        make_method(m)->run(net, device, lab_of(cfg.seeds.front()).calib, train, o);
      } catch (const StopAtFirstUse::Reached&) {
        // the method got as far as the chip: its budgets are feasible
      } catch (const InputError& e) {
        throw InputError(
            "frontier: method " + m + " refuses the rung " + std::to_string(smallest.gradients) +
            ":" + std::to_string(smallest.passes) + " (the ladder's fewest passes): " + e.what());
      }
    }
  }

  CreatedPaths created;
  try {
    created.make_dirs(dir);
    if (!path_exists(config_path)) {
      created.will_create(config_path);
      io::write_file_atomic(config_path, record_text);
    }
    created.will_create(rows_path);
    ResultsFile results(rows_path, complete_bytes);
    size_t finished = 0;
    const auto t_cells = Clock::now();
    for (const Cell& c : cells) {
      if (done.count(c.key)) continue;
      const auto t_cell = Clock::now();
      FrontierRow row;
      row.key = c.key;
      row.seed = c.seed;
      row.method = c.method;
      row.budget = c.rung;
      row.dataset = dataset;
      char buf[512];
      if (c.method == "none") {
        SimulatedDevice probe(arch, so);
        const LabelledSet& eval = lab_of(c.seed).eval;
        const DeviceAccuracy before = device_accuracy(probe, start, eval, cfg.eval_repeats);
        const DeviceAccuracy orc = device_accuracy(probe, oracle, eval, cfg.eval_repeats);
        row.acc_before = row.acc_after = before.mean;
        row.acc_before_ci = row.acc_after_ci = {before.low, before.high};
        row.acc_oracle = orc.mean;
        row.acc_oracle_ci = {orc.low, orc.high};
        row.recovery = recovery_of(before.mean, before.mean, orc.mean);
        std::snprintf(buf, sizeof buf, "seed %llu: start %.2f%% [%.2f, %.2f], oracle %.2f%%",
                      static_cast<unsigned long long>(c.seed), 100 * before.mean, 100 * before.low,
                      100 * before.high, 100 * orc.mean);
      } else {
        const FrontierRow& ref = done.at(frontier_key(c.seed, "none", {0, 0}));
        const LabSplit& split = lab_of(c.seed);
        FinetuneOptions o = base;
        o.seed = c.seed;
        o.calibration.seed = c.seed;
        o.budget_gradients = c.rung.gradients;
        o.budget_passes = c.rung.passes;
        SimulatedDevice device(arch, so);
        Network net = start;
        const FinetuneReport rep = make_method(c.method)->run(net, device, split.calib, train, o);
        const DeviceAccuracy after = device_accuracy(device, net, split.eval, cfg.eval_repeats);
        row.sample_gradients = rep.sample_gradients;
        row.device_passes = rep.device_passes;
        row.device_programmings = rep.device_programmings;
        row.accepted = rep.accepted;
        row.budget_limited = rep.budget_limited;
        row.digital_seconds = rep.digital_seconds;
        row.acc_before = ref.acc_before;
        row.acc_before_ci = ref.acc_before_ci;
        row.acc_oracle = ref.acc_oracle;
        row.acc_oracle_ci = ref.acc_oracle_ci;
        row.acc_after = after.mean;
        row.acc_after_ci = {after.low, after.high};
        row.recovery = recovery_of(row.acc_before, after.mean, row.acc_oracle);
        char rec[32] = "-";
        if (row.recovery) std::snprintf(rec, sizeof rec, "%.2f", *row.recovery);
        std::snprintf(buf, sizeof buf,
                      "seed %llu %-7s %7llu:%-6llu %.2f%% -> %.2f%% (recovery %s; spent %llu "
                      "gradients, %llu passes%s%s)",
                      static_cast<unsigned long long>(c.seed), c.method.c_str(),
                      static_cast<unsigned long long>(c.rung.gradients),
                      static_cast<unsigned long long>(c.rung.passes), 100 * row.acc_before,
                      100 * after.mean, rec, static_cast<unsigned long long>(rep.sample_gradients),
                      static_cast<unsigned long long>(rep.device_passes),
                      rep.accepted ? "; accepted" : "; start kept",
                      rep.budget_limited ? "; budget-limited" : "");
      }
      row.seconds = std::chrono::duration<double>(Clock::now() - t_cell).count();
      results.append(frontier_row_to_json(row));
      done.emplace(row.key, row);
      ++finished;
      char head[64];
      std::snprintf(head, sizeof head, "[%zu/%zu] ", summary.cells_skipped + finished,
                    cells.size());
      log(head + std::string(buf) + " " + fixed_text(row.seconds, 1) + " s");
      if (cb.progress) {
        const double elapsed = std::chrono::duration<double>(Clock::now() - t_cells).count();
        cb.progress(summary.cells_skipped + finished, cells.size(),
                    elapsed / static_cast<double>(finished) * static_cast<double>(todo - finished));
      }
    }
    summary.cells_run = finished;
  } catch (...) {
    created.remove_unless_work(rows_path, "");
    throw;
  }
  summary.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  return summary;
}

}  // namespace

FrontierSummary run_frontier(const FrontierConfig& config, const std::string& dir,
                             const FrontierCallbacks& callbacks) {
  config.validate();
  if (config.checkpoint.empty()) throw InputError("frontier: the start checkpoint is not given");
  if (config.oracle.empty()) throw InputError("frontier: the oracle checkpoint is not given");
  const Checkpoint start = load_checkpoint(config.checkpoint);
  const Checkpoint oracle = load_checkpoint(config.oracle);
  return run_case(config, start.net, start.train.noise, oracle.net, start.dataset, dir, callbacks);
}

FrontierSummary run_frontier(const FrontierConfig& config, const FrontierCase& c,
                             const std::string& dir, const FrontierCallbacks& callbacks) {
  if (!config.checkpoint.empty() || !config.oracle.empty()) {
    throw InputError("frontier: a case given as networks takes no checkpoint paths");
  }
  NoiseModel assumed = c.assumed;
  if (assumed.layers.empty()) assumed = NoiseModel::none(c.start.num_layers());
  assumed.validate(c.start.num_layers(), "frontier: the assumed noise");
  return run_case(config, c.start, assumed, c.oracle, c.dataset, dir, callbacks);
}

std::vector<std::string> write_frontier_report(const std::string& dir, bool figures) {
  const std::string config_path = dir + "/config.json";
  const std::string rows_path = dir + "/frontier.jsonl";
  const json record = io::parse_json(io::read_file(config_path), config_path);
  if (!record.is_object() || !record.contains("frontier") || !record.contains("assumed")) {
    throw InputError(config_path + ": not the config of a gift frontier");
  }
  const FrontierConfig config = FrontierConfig::from_json(record.at("frontier"), config_path);
  const NoiseModel assumed = noise_of_json(record.at("assumed"), config_path + ": assumed");
  const std::vector<FrontierRow> rows = parse_frontier_rows(io::read_file(rows_path), rows_path);
  if (rows.empty()) throw InputError("'" + rows_path + "' holds no finished cell");
  const FrontierTable table = aggregate_frontier(rows, config);
  std::vector<std::string> written;
  io::write_file_atomic(dir + "/frontier.md", frontier_markdown(table, config, assumed));
  written.push_back(dir + "/frontier.md");
  if (!figures) return written;
  for (const std::string& p :
       render_figures(dir, frontier_figures(table, config, assumed), "frontier.gp",
                      "Figures of a gift frontier, written by `gift frontier`.")) {
    written.push_back(p);
  }
  return written;
}

}  // namespace gift::experiment

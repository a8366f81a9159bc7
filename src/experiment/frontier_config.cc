#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include "config_values.h"
#include "finetune_block.h"
#include "gift/core/error.h"
#include "gift/data/dataset.h"
#include "gift/experiment/frontier.h"
#include "gift/io/model_json.h"
#include "gift/train/engine.h"

// FrontierConfig: its ladders, its JSON (one reader, one writer), validate(), and the frontier of
// a finished sweep.
namespace gift::experiment {

using nlohmann::json;
using namespace detail;

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
  c.dataset = get_string(j, "dataset", c.dataset, data::dataset_list(), what);
  c.data_dir = get_string(j, "data_dir", c.data_dir, "a directory (a string)", what);
  c.train_limit = get_integer<size_t>(j, "train_limit", c.train_limit, 0, kAny, what);
  c.test_limit = get_integer<size_t>(j, "test_limit", c.test_limit, 0, kAny, what);
  c.eval_repeats = get_integer<int>(j, "eval_repeats", c.eval_repeats, 2, kMaxSweepRepeats, what);
  if (j.contains("device")) {
    const json& d = j.at("device");
    const std::string w = what + ": device";
    reject_unknown(d,
                   {"noise", "gain_std", "weight_bits", "row_gain_std", "col_gain_std", "crosstalk",
                    "dac", "seed", "taps"},
                   w);
    if (d.contains("noise")) c.device_noise = noise_of_json(d.at("noise"), w + ": noise");
    c.imperfections.gain_std =
        get_number(d, "gain_std", 0, 0, std::numeric_limits<double>::max(), "a number >= 0", w);
    c.imperfections.weight_bits = get_integer<int>(d, "weight_bits", 0, 0, 24, w);
    // The later static errors: their one reader (io/model_json), on just their keys.
    json later = json::object();
    for (const char* k : {"row_gain_std", "col_gain_std", "crosstalk", "dac"}) {
      if (d.contains(k)) later[k] = d.at(k);
    }
    const Imperfections rest = io::imperfections_from_json(later, w);
    c.imperfections.row_gain_std = rest.row_gain_std;
    c.imperfections.col_gain_std = rest.col_gain_std;
    c.imperfections.crosstalk = rest.crosstalk;
    c.imperfections.dac = rest.dac;
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
  // The device's static errors as their one writer writes them (the keys added after
  // gain_std and weight_bits only when set: an older frontier's config text stays the same).
  json device = io::imperfections_to_json(imperfections);
  device.update(
      {{"noise", io::noise_to_json(device_noise)}, {"seed", device_seed}, {"taps", taps}});
  return {{"checkpoint", checkpoint},
          {"oracle", oracle},
          {"dataset", dataset},
          {"data_dir", data_dir},
          {"train_limit", train_limit},
          {"test_limit", test_limit},
          {"device", device},
          {"methods", methods},
          {"ladder", ladder_j},
          {"seeds", seeds},
          {"finetune", finetune_to_json(finetune, calib_size, false)},
          {"eval_repeats", eval_repeats}};
}

size_t FrontierConfig::cells() const { return seeds.size() * (1 + methods.size() * ladder.size()); }

void FrontierConfig::validate() const {
  if (!dataset.empty()) data::check_dataset_name(dataset, "frontier");
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

}  // namespace gift::experiment

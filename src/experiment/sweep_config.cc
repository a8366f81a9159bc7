#include <cmath>
#include <limits>
#include <set>

#include "config_values.h"
#include "finetune_block.h"
#include "gift/core/error.h"
#include "gift/data/dataset.h"
#include "gift/experiment/number_text.h"
#include "gift/experiment/sweep.h"
#include "gift/io/model_json.h"
#include "gift/train/trainer.h"

// SweepConfig: its JSON (one reader, one writer), validate(), and the preset of
// `gift reproduce`.
namespace gift::experiment {
namespace {

using nlohmann::json;
// The readers of config values (get_integer, ...) are shared with the frontier
// (config_values.h).
using namespace detail;

std::vector<double> levels_from_json(const json& j, const char* key, const std::string& what) {
  const std::string expected = "a non-empty list of levels (numbers >= 0)";
  if (!j.contains(key))
    throw InputError(what + ": key '" + key + "' is missing (" + expected + ")");
  std::vector<double> v;
  for (const json& x : get_list(j, key, expected, what)) {
    if (!x.is_number() || !(x.get<double>() >= 0) || !std::isfinite(x.get<double>())) {
      bad_value(what, key, expected, x);
    }
    v.push_back(x.get<double>());
  }
  return v;
}

// Rethrows an InputError of another owner's validate() with `context` in front.
template <class F>
void with_context(const std::string& context, F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    throw InputError("sweep: " + context + ": " + e.what());
  }
}

// The i-th (0-based) grid of a config: a name and a site or a pattern, and its
// levels.
GridSpec grid_from_json(const json& g, size_t i, const Architecture& arch,
                        const std::string& what) {
  const std::string numbered = what + ": grid " + std::to_string(i + 1);
  reject_unknown(g, {"name", "site", "pattern", "assumed", "true"}, numbered);
  GridSpec spec;
  spec.name = get_string(g, "name", "", "a grid name (a string)", numbered);
  const std::string w = spec.name.empty() ? numbered : what + ": grid '" + spec.name + "'";
  if (g.contains("site") && g.contains("pattern")) {
    throw InputError(w + ": has both 'site' and 'pattern' (expected one)");
  }
  if (g.contains("site")) {
    const std::string site =
        get_string(g, "site", "", "a noise site name (" + noise_site_names() + ")", w);
    spec.pattern = NoiseModel::uniform(arch.num_layers(), parse_noise_site(site), 1.0);
    if (spec.name.empty()) spec.name = site;
  } else if (g.contains("pattern")) {
    spec.pattern = pattern_from_json(g.at("pattern"), arch.num_layers(), w);
  } else {
    throw InputError(w + ": needs 'site' or 'pattern'");
  }
  spec.assumed = levels_from_json(g, "assumed", w);
  spec.truth = levels_from_json(g, "true", w);
  return spec;
}

void check_grid_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxGridNameLength ||
      name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                             "0123456789._-") != std::string::npos) {
    throw InputError("sweep: a grid name must be 1 to " + std::to_string(kMaxGridNameLength) +
                     " characters of A-Z, a-z, 0-9, '.', '_', '-', found '" + name.substr(0, 80) +
                     "'");
  }
}

// Checks the pattern of `g` and its levels (finite, >= 0, distinct by
// level_label, a valid noise model at each); returns the number of distinct
// levels, each of which trains a network per seed.
size_t check_grid_levels(const GridSpec& g, const Architecture& a) {
  const std::string w = "sweep: grid '" + g.name + "'";
  g.pattern.validate(a.num_layers(), w + " pattern");
  // A cell and a network are named by level_label: two levels with one label
  // are one level.
  std::set<std::string> levels;
  for (const auto* list : {&g.assumed, &g.truth}) {
    const char* key = list == &g.assumed ? "assumed" : "true";
    if (list->empty()) throw InputError(w + ": '" + key + "' must not be empty");
    std::set<std::string> seen;
    for (double level : *list) {
      if (!std::isfinite(level) || level < 0) {
        throw InputError(w + ": '" + key + "' holds a bad level " + json(level).dump() +
                         " (expected a finite number >= 0)");
      }
      if (!seen.insert(level_label(level)).second) {
        throw InputError(w + ": '" + key + "' lists the level " + json(level).dump() + " twice");
      }
      g.pattern.scaled(level).validate(a.num_layers(), w + " at level " + json(level).dump());
      levels.insert(level_label(level));
    }
  }
  return levels.size();
}

}  // namespace

SweepConfig SweepConfig::from_json(const json& j, const std::string& what) {
  try {
    return parse_config(j, what);
  } catch (const InputError& e) {
    const std::string msg = e.what();
    if (msg.rfind(what, 0) == 0) throw;
    throw InputError(what + ": " + msg);
  }
}

SweepConfig SweepConfig::parse_config(const json& j, const std::string& what) {
  reject_unknown(j,
                 {"dataset", "data_dir", "arch", "activation", "w_max", "chain", "train",
                  "test_limit", "grids", "seeds", "methods", "finetune", "eval_repeats", "device"},
                 what);
  constexpr uint64_t kAny = std::numeric_limits<uint64_t>::max();
  const double kMaxDouble = std::numeric_limits<double>::max();
  const double kPositive = std::numeric_limits<double>::denorm_min();
  SweepConfig c;
  c.dataset = get_string(j, "dataset", c.dataset, data::dataset_list(), what);
  c.data_dir = get_string(j, "data_dir", c.data_dir, "a directory (a string)", what);
  c.arch = get_string(j, "arch", c.arch, "layer widths like \"784-256-10\" (a string)", what);
  c.activation = get_string(j, "activation", c.activation, "an activation name (a string)", what);
  c.w_max = get_number(j, "w_max", c.w_max, kPositive, kMaxDouble, "a number > 0", what);
  c.chain = get_string(j, "chain", c.chain, "physical or legacy (a string)", what);
  c.test_limit = get_integer<size_t>(j, "test_limit", c.test_limit, 0, kAny, what);
  c.eval_repeats = get_integer<int>(j, "eval_repeats", c.eval_repeats, 2, kMaxSweepRepeats, what);
  if (j.contains("train")) {
    const json& t = j.at("train");
    const std::string w = what + ": train";
    reject_unknown(t, {"epochs", "batch_size", "lr", "limit"}, w);
    c.train_epochs = get_integer<int>(t, "epochs", c.train_epochs, 1, kMaxSweepEpochs, w);
    c.train_batch = get_integer<int>(t, "batch_size", c.train_batch, 1, kMaxSweepBatch, w);
    c.train_lr = get_number(t, "lr", c.train_lr, kPositive, kMaxDouble, "a number > 0", w);
    c.train_limit = get_integer<size_t>(t, "limit", c.train_limit, 0, kAny, w);
  }
  if (j.contains("finetune")) {
    finetune_from_json(j.at("finetune"), c.finetune, c.calib_size, true, what + ": finetune");
  }
  if (j.contains("device")) {
    const json& d = j.at("device");
    // imperfections_from_json reads weight_bits as an int: refuse what would
    // not fit first.
    if (d.is_object() && d.contains("weight_bits") && d.at("weight_bits").is_number_integer()) {
      integer_value(d.at("weight_bits"), "weight_bits", 0, 24, what + ": device");
    }
    c.imperfections = io::imperfections_from_json(d, what + ": device");
  }
  if (j.contains("seeds")) {
    const std::string expected = "a non-empty list of seeds (non-negative integers)";
    c.seeds.clear();
    for (const json& s : get_list(j, "seeds", expected, what)) {
      c.seeds.push_back(integer_value(s, "seeds", 0, kAny, what));
    }
  }
  if (j.contains("methods")) {
    c.methods.clear();
    for (const json& m : get_list(j, "methods", "a non-empty list of method names", what)) {
      if (!m.is_string()) bad_value(what, "methods", "a list of method names (strings)", m);
      c.methods.push_back(m.get<std::string>());
    }
  }
  const Architecture arch = c.architecture();
  if (!j.contains("grids")) throw InputError(what + ": key 'grids' is missing");
  const json& grids = get_list(j, "grids", "a non-empty list of grids", what);
  for (size_t i = 0; i < grids.size(); ++i)
    c.grids.push_back(grid_from_json(grids[i], i, arch, what));
  c.validate();
  return c;
}

json SweepConfig::to_json() const {
  json grids_j = json::array();
  for (const GridSpec& g : grids) {
    json p = io::noise_to_json(g.pattern);
    grids_j.push_back(
        {{"name", g.name}, {"pattern", p}, {"assumed", g.assumed}, {"true", g.truth}});
  }
  // Pattern lists are per layer, which from_json reads back.
  return {{"dataset", dataset},
          {"data_dir", data_dir},
          {"arch", arch},
          {"activation", activation},
          {"w_max", w_max},
          {"chain", chain},
          {"train",
           {{"epochs", train_epochs},
            {"batch_size", train_batch},
            {"lr", train_lr},
            {"limit", train_limit}}},
          {"test_limit", test_limit},
          {"grids", grids_j},
          {"seeds", seeds},
          {"methods", methods},
          {"finetune", finetune_to_json(finetune, calib_size, true)},
          {"eval_repeats", eval_repeats},
          {"device", io::imperfections_to_json(imperfections)}};
}

Architecture SweepConfig::architecture() const {
  return Architecture::from_string(arch, parse_activation(activation), w_max, parse_chain(chain));
}

void SweepConfig::validate() const {
  data::check_dataset_name(dataset, "sweep");
  const Architecture a = architecture();
  if (seeds.empty() || methods.empty() || grids.empty()) {
    throw InputError("sweep: seeds, methods and grids must not be empty");
  }
  // The size of the grid, as a product, before anything else is looked at or
  // allocated.
  uint64_t cells = 0;
  for (const GridSpec& g : grids) {
    const uint64_t per_grid = saturating_mul(
        saturating_mul(saturating_mul(g.assumed.size(), g.truth.size()), seeds.size()),
        methods.size());
    cells = saturating_add(cells, per_grid);
  }
  if (cells > kMaxSweepCells) {
    throw InputError("sweep: the grid has " + std::to_string(cells) +
                     " cells (grids x assumed x true x seeds x methods), more "
                     "than the limit of " +
                     std::to_string(kMaxSweepCells));
  }
  check_range("sweep", "train.epochs", train_epochs, 1, kMaxSweepEpochs);
  check_range("sweep", "train.batch_size", train_batch, 1, kMaxSweepBatch);
  TrainOptions train;
  train.epochs = train_epochs;
  train.batch_size = train_batch;
  train.optimizer.lr = train_lr;
  with_context("train", [&] { train.validate(a); });
  check_range("sweep", "eval_repeats", eval_repeats, 2, kMaxSweepRepeats);
  check_finetune("sweep", finetune, calib_size);
  {
    FinetuneOptions f = finetune;
    with_context("finetune", [&] { f.validate(a); });
  }
  std::set<std::string> names;
  uint64_t networks = 0;
  for (const GridSpec& g : grids) {
    check_grid_name(g.name);
    if (!names.insert(g.name).second)
      throw InputError("sweep: duplicate grid name '" + g.name + "'");
    const size_t levels = check_grid_levels(g, a);
    networks = saturating_add(networks, saturating_mul(levels, seeds.size()));
  }
  if (networks > kMaxSweepNetworks) {
    throw InputError("sweep: the grid trains " + std::to_string(networks) +
                     " networks (grid x level x seed), more than the limit of " +
                     std::to_string(kMaxSweepNetworks));
  }
  std::set<uint64_t> seed_set(seeds.begin(), seeds.end());
  if (seed_set.size() != seeds.size()) throw InputError("sweep: 'seeds' lists a seed twice");
  std::set<std::string> method_set;
  for (const std::string& m : methods) {
    make_method(m);
    if (!method_set.insert(m).second) throw InputError("sweep: 'methods' lists '" + m + "' twice");
  }
  imperfections.validate("sweep device");
}

SweepConfig reproduce_preset(bool quick, const std::string& dataset) {
  SweepConfig c;
  c.dataset = dataset;
  const size_t L = 5;
  if (quick) {
    c.train_epochs = 10;
    c.test_limit = 5000;
    c.seeds = {1};
    c.grids = {{"sum_add",
                NoiseModel::uniform(L, NoiseSite::kSumAdd, 1.0),
                {0.1, 1.0},
                {0.1, 0.5, 1.0, 2.0, 3.0}}};
    c.finetune.retrain_epochs = 1;
    c.eval_repeats = 3;
  } else {
    c.train_epochs = 20;
    c.seeds = {1, 2, 3};
    c.grids = {
        {"sum_add",
         NoiseModel::uniform(L, NoiseSite::kSumAdd, 1.0),
         {0.1, 0.5, 1.0},
         {0.1, 0.5, 1.0, 2.0, 3.0}},
        {"weight", NoiseModel::uniform(L, NoiseSite::kWeight, 1.0), {0.1}, {0.1, 0.3, 0.5, 0.7}}};
    c.eval_repeats = 5;
  }
  c.validate();
  return c;
}

}  // namespace gift::experiment

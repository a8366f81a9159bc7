#include "gift/experiment/sweep.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <type_traits>
#include <utility>

#include "experiment_util.h"
#include "gift/core/error.h"
#include "gift/data/dataset.h"
#include "gift/experiment/report.h"
#include "gift/insitu/simulated_device.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"
#include "gift/io/model_json.h"
#include "gift/train/engine.h"
#include "gift/train/trainer.h"

namespace gift::experiment {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The readers of config values (get_integer, ...) and the results file are shared with the
// frontier (experiment_util.h).
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

// Runs tasks 0..n-1 on min(jobs, n) threads (one job: in the calling thread, in order); the
// first exception is rethrown after all stop. If a thread cannot be started, the ones started
// finish their current task and are joined, then InputError says so (never std::terminate).
void parallel_for(size_t n, int jobs, const std::function<void(size_t)>& task) {
  if (jobs <= 1 || n <= 1) {
    for (size_t i = 0; i < n; ++i) task(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex mu;
  auto worker = [&] {
    for (;;) {
      const size_t i = next++;
      if (i >= n || failed) return;
      try {
        task(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  const size_t wanted = std::min(static_cast<size_t>(std::max(1, jobs)), n);
  std::vector<std::thread> threads;
  threads.reserve(wanted);
  std::string start_error;
  for (size_t t = 0; t < wanted; ++t) {
    try {
      threads.emplace_back(worker);
    } catch (const std::exception& e) {
      failed = true;
      start_error = e.what();
      break;
    }
  }
  for (std::thread& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  if (!start_error.empty()) {
    throw InputError("cannot start " + std::to_string(wanted) + " worker threads (" +
                     std::to_string(threads.size()) + " started): " + start_error +
                     "; use fewer --jobs");
  }
}

struct ModelKey {
  size_t grid;
  double level;
  uint64_t seed;
  bool operator<(const ModelKey& o) const {
    return std::tie(grid, level, seed) < std::tie(o.grid, o.level, o.seed);
  }
};

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
                 {"dataset", "data_dir", "arch", "activation", "w_max", "train", "test_limit",
                  "grids", "seeds", "methods", "finetune", "eval_repeats", "device"},
                 what);
  constexpr uint64_t kAny = std::numeric_limits<uint64_t>::max();
  const double kMaxDouble = std::numeric_limits<double>::max();
  const double kPositive = std::numeric_limits<double>::denorm_min();
  SweepConfig c;
  c.dataset = get_string(j, "dataset", c.dataset, "mnist or fashion-mnist", what);
  c.data_dir = get_string(j, "data_dir", c.data_dir, "a directory (a string)", what);
  c.arch = get_string(j, "arch", c.arch, "layer widths like \"784-256-10\" (a string)", what);
  c.activation = get_string(j, "activation", c.activation, "an activation name (a string)", what);
  c.w_max = get_number(j, "w_max", c.w_max, kPositive, kMaxDouble, "a number > 0", what);
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
    // imperfections_from_json reads weight_bits as an int: refuse what would not fit first.
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
  for (size_t i = 0; i < grids.size(); ++i) {
    const json& g = grids[i];
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
          get_string(g, "site", "", "a noise site name (weight, sum_mult, sum_add, out_add)", w);
      spec.pattern = NoiseModel::uniform(arch.num_layers(), parse_noise_site(site), 1.0);
      if (spec.name.empty()) spec.name = site;
    } else if (g.contains("pattern")) {
      spec.pattern = pattern_from_json(g.at("pattern"), arch.num_layers(), w);
    } else {
      throw InputError(w + ": needs 'site' or 'pattern'");
    }
    spec.assumed = levels_from_json(g, "assumed", w);
    spec.truth = levels_from_json(g, "true", w);
    c.grids.push_back(spec);
  }
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
  return Architecture::from_string(arch, parse_activation(activation), w_max);
}

void SweepConfig::validate() const {
  if (dataset != "mnist" && dataset != "fashion-mnist") {
    throw InputError("sweep: dataset must be mnist or fashion-mnist, found '" + dataset + "'");
  }
  const Architecture a = architecture();
  if (seeds.empty() || methods.empty() || grids.empty()) {
    throw InputError("sweep: seeds, methods and grids must not be empty");
  }
  // The size of the grid, as a product, before anything else is looked at or allocated.
  uint64_t cells = 0;
  for (const GridSpec& g : grids) {
    const uint64_t per_grid = saturating_mul(
        saturating_mul(saturating_mul(g.assumed.size(), g.truth.size()), seeds.size()),
        methods.size());
    cells = saturating_add(cells, per_grid);
  }
  if (cells > kMaxSweepCells) {
    throw InputError("sweep: the grid has " + std::to_string(cells) +
                     " cells (grids x assumed x true x seeds x methods), more than the limit of " +
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
    if (g.name.empty() || g.name.size() > kMaxGridNameLength ||
        g.name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789._-") != std::string::npos) {
      throw InputError("sweep: a grid name must be 1 to " + std::to_string(kMaxGridNameLength) +
                       " characters of A-Z, a-z, 0-9, '.', '_', '-', found '" +
                       g.name.substr(0, 80) + "'");
    }
    if (!names.insert(g.name).second)
      throw InputError("sweep: duplicate grid name '" + g.name + "'");
    const std::string w = "sweep: grid '" + g.name + "'";
    g.pattern.validate(a.num_layers(), w + " pattern");
    // A cell and a network are named by level_label: two levels with one label are one level.
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
    networks = saturating_add(networks, saturating_mul(levels.size(), seeds.size()));
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

std::string sweep_model_path(const std::string& dir, const std::string& grid, double level,
                             uint64_t seed) {
  return dir + "/models/" + grid + "-l" + level_label(level) + "-s" + std::to_string(seed) +
         ".safetensors";
}

uint64_t sweep_device_seed(const std::string& grid, double truth, uint64_t seed) {
  return fnv1a(grid + "|" + level_label(truth) + "|" + std::to_string(seed));
}

SweepSummary run_sweep(const SweepConfig& cfg, const std::string& dir, int jobs_in,
                       const SweepCallbacks& cb, size_t max_cells) {
  cfg.validate();
  const auto t_start = Clock::now();
  const int jobs = resolve_threads(jobs_in);
  // Callbacks are called one at a time, from whichever worker thread.
  std::mutex cb_mu;
  auto log = [&](const std::string& s) {
    std::lock_guard<std::mutex> lock(cb_mu);
    if (cb.log) cb.log(s);
  };
  if (dir.empty()) throw InputError("sweep: expected an output directory, found an empty path");
  const std::string models_dir = dir + "/models";
  const std::string config_path = dir + "/config.json";
  const std::string results_path = dir + "/results.jsonl";
  const std::string config_text = cfg.to_json().dump(2) + "\n";

  // What a previous run left: read only, so that a refusal creates nothing.
  if (path_exists(dir)) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      throw InputError("cannot use '" + dir + "' as the sweep directory: it is not a directory");
    }
  }
  if (path_exists(config_path) && io::read_file(config_path) != config_text) {
    throw InputError(dir + " holds a sweep with another configuration (" + config_path +
                     "); use another output directory");
  }
  const std::string results_text = path_exists(results_path) ? io::read_file(results_path) : "";
  std::set<std::string> done;
  for (const SweepRow& row : parse_results(results_text, results_path)) done.insert(row.key);
  const size_t complete_bytes =
      results_text.rfind('\n') == std::string::npos ? 0 : results_text.rfind('\n') + 1;

  // Every cell, in a fixed order.
  struct Cell {
    size_t grid;
    double assumed, truth;
    uint64_t seed;
    std::string method, key;
  };
  std::vector<Cell> cells;
  for (size_t g = 0; g < cfg.grids.size(); ++g) {
    for (double a : cfg.grids[g].assumed) {
      for (double t : cfg.grids[g].truth) {
        for (uint64_t s : cfg.seeds) {
          for (const std::string& m : cfg.methods) {
            cells.push_back({g, a, t, s, m, cell_key(cfg.grids[g].name, a, t, s, m)});
          }
        }
      }
    }
  }
  SweepSummary summary;
  summary.cells_total = cells.size();
  std::vector<const Cell*> todo;
  for (const Cell& c : cells) {
    if (!done.count(c.key)) todo.push_back(&c);
  }
  summary.cells_skipped = cells.size() - todo.size();
  if (summary.cells_skipped > 0) {
    log("resuming: " + std::to_string(summary.cells_skipped) + " of " +
        std::to_string(cells.size()) + " cells already finished in " + results_path);
  }
  if (max_cells > 0 && todo.size() > max_cells) todo.resize(max_cells);
  if (todo.empty()) {
    summary.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
    return summary;
  }

  // The data, checked against the network, before the first file is created.
  const Architecture arch = cfg.architecture();
  const std::string data_dir = cfg.data_dir.empty() ? "data/" + cfg.dataset : cfg.data_dir;
  data::Dataset train_set = data::load_dataset(cfg.dataset, data_dir, data::Split::kTrain);
  data::Dataset test_set = data::load_dataset(cfg.dataset, data_dir, data::Split::kTest);
  if (cfg.train_limit > 0 && cfg.train_limit < train_set.size())
    train_set = data::subset(train_set, 0, cfg.train_limit);
  if (cfg.test_limit > 0 && cfg.test_limit < test_set.size())
    test_set = data::subset(test_set, 0, cfg.test_limit);
  for (const data::Dataset* d : {&train_set, &test_set}) {
    const char* split = d == &train_set ? "training" : "test";
    if (d->images.cols() != arch.inputs()) {
      throw InputError("sweep: the network '" + cfg.arch + "' takes " +
                       std::to_string(arch.inputs()) + " inputs, but the " + split + " images in " +
                       data_dir + " have " + std::to_string(d->images.cols()) + " pixels (" +
                       std::to_string(d->rows) + "x" + std::to_string(d->cols) + ")");
    }
    if (arch.outputs() < d->num_classes) {
      throw InputError("sweep: the network '" + cfg.arch + "' has " +
                       std::to_string(arch.outputs()) + " outputs, fewer than the " +
                       std::to_string(d->num_classes) + " classes of " + data_dir);
    }
  }
  if (cfg.calib_size >= test_set.size()) {
    throw InputError("sweep: finetune.calib_size " + std::to_string(cfg.calib_size) +
                     " leaves none of the " + std::to_string(test_set.size()) + " test images" +
                     (cfg.test_limit > 0 ? " (test_limit)" : "") + " of " + data_dir +
                     " to measure accuracy on (the lab's images are drawn from the test split)");
  }
  const LabelledSet train{std::move(train_set.images), std::move(train_set.labels)};  // no copy
  // Per seed: the lab's labelled images and the images every accuracy is measured on.
  std::map<uint64_t, LabSplit> labs;
  for (uint64_t seed : cfg.seeds)
    labs[seed] = lab_split({test_set.images, test_set.labels}, cfg.calib_size, seed);

  CreatedPaths created;
  try {
    created.make_dirs(models_dir);
    if (!path_exists(config_path)) {
      created.will_create(config_path);
      io::write_file_atomic(config_path, config_text);
    }
    created.will_create(results_path);
    ResultsFile results(results_path, complete_bytes);

    // Phase 1: the networks the remaining cells need (trained at each needed level).
    std::set<ModelKey> needed;
    for (const Cell* c : todo) {
      needed.insert({c->grid, c->assumed, c->seed});
      needed.insert({c->grid, c->truth, c->seed});
    }
    const std::vector<ModelKey> models(needed.begin(), needed.end());
    auto model_path = [&](const ModelKey& k) {
      return sweep_model_path(dir, cfg.grids[k.grid].name, k.level, k.seed);
    };
    std::atomic<size_t> trained{0};
    // Networks train one per job, one thread each; the last n mod jobs share the jobs' threads
    // so that no core idles at the end (results do not depend on the thread count).
    const size_t full = models.size() / static_cast<size_t>(jobs) * static_cast<size_t>(jobs);
    const size_t rest = models.size() - full;
    const auto train_model = [&](size_t i, int threads) {
      const ModelKey& k = models[i];
      const std::string path = model_path(k);
      Checkpoint ck;
      if (path_exists(path)) ck = load_checkpoint(path);
      if (ck.state.epochs_done < cfg.train_epochs) {
        const bool fresh = ck.net.params().size() == 0;
        if (fresh) {
          ck.net = Network(arch);
          ck.net.init(k.seed);
          ck.train.epochs = cfg.train_epochs;
          ck.train.batch_size = cfg.train_batch;
          ck.train.optimizer.lr = cfg.train_lr;
          ck.train.seed = k.seed;
          ck.train.noise = cfg.grids[k.grid].pattern.scaled(k.level);
          ck.dataset = cfg.dataset;
        }
        ck.train.threads = threads;
        TrainCallbacks tcb;
        tcb.epoch_end = [&](const EpochLog&, const TrainState& s) {
          ck.state = s;
          save_checkpoint(path, ck);
        };
        const TrainSummary ts =
            gift::train(ck.net, train.images, train.labels, ck.train, ck.state, tcb);
        ++trained;
        if (ts.diverged) throw InputError("sweep: training " + path + " diverged: " + ts.message);
        char buf[256];
        std::snprintf(buf, sizeof buf, "trained %s (%s, %d epochs, %.0f s)", path.c_str(),
                      ck.train.noise.describe().c_str(), cfg.train_epochs, ts.seconds);
        log(buf);
      }
    };
    parallel_for(full, jobs, [&](size_t i) { train_model(i, 1); });
    parallel_for(rest, static_cast<int>(rest), [&](size_t i) {
      train_model(full + i, std::max(1, jobs / static_cast<int>(std::max<size_t>(rest, 1))));
    });
    summary.models_needed = models.size();
    summary.models_trained = trained;

    // Phase 2: the cells.
    std::map<ModelKey, Network> nets;
    for (const ModelKey& k : models) nets[k] = load_checkpoint(model_path(k)).net;
    size_t finished = 0;  // guarded by cb_mu
    const auto t_cells = Clock::now();
    parallel_for(todo.size(), jobs, [&](size_t i) {
      const Cell& c = *todo[i];
      const GridSpec& g = cfg.grids[c.grid];
      const Network& start = nets.at({c.grid, c.assumed, c.seed});
      const Network& oracle_net = nets.at({c.grid, c.truth, c.seed});
      SimulatedDeviceOptions so;
      so.noise = g.pattern.scaled(c.truth);
      so.imperfections = cfg.imperfections;
      so.seed = sweep_device_seed(g.name, c.truth, c.seed);
      so.threads = 1;
      SimulatedDevice device(arch, so);
      const LabelledSet& calib = labs.at(c.seed).calib;
      const LabelledSet& test = labs.at(c.seed).eval;
      const DeviceAccuracy before = device_accuracy(device, start, test, cfg.eval_repeats);
      const DeviceAccuracy oracle = device_accuracy(device, oracle_net, test, cfg.eval_repeats);
      FinetuneOptions o = cfg.finetune;
      o.assumed = g.pattern.scaled(c.assumed);
      o.seed = c.seed;
      o.threads = 1;
      o.calibration.seed = c.seed;
      o.calibration.threads = 1;
      Network net = start;
      const FinetuneReport rep = make_method(c.method)->run(net, device, calib, train, o);
      const DeviceAccuracy after = device_accuracy(device, net, test, cfg.eval_repeats);
      const std::optional<double> recovery = recovery_of(before.mean, after.mean, oracle.mean);
      // The row's fields and their order are the schema row_from_json reads.
      const json row = {{"key", c.key},
                        {"grid", g.name},
                        {"assumed", c.assumed},
                        {"true", c.truth},
                        {"seed", c.seed},
                        {"method", c.method},
                        {"dataset", cfg.dataset},
                        {"acc_before", before.mean},
                        {"acc_before_ci", {before.low, before.high}},
                        {"acc_after", after.mean},
                        {"acc_after_ci", {after.low, after.high}},
                        {"acc_oracle", oracle.mean},
                        {"acc_oracle_ci", {oracle.low, oracle.high}},
                        {"relative_improvement", (after.mean - before.mean) / before.mean},
                        {"recovery", recovery ? json(*recovery) : json(nullptr)},
                        {"device_passes", rep.device_passes},
                        {"device_programmings", rep.device_programmings},
                        {"sample_gradients", rep.sample_gradients},
                        {"digital_seconds", rep.digital_seconds},
                        {"accepted", rep.accepted}};
      results.append(row);
      std::lock_guard<std::mutex> lock(cb_mu);
      ++finished;
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "[%zu/%zu] %s a=%s t=%s seed=%llu %-7s %.2f%% -> %.2f%% (oracle %.2f%%)",
                    summary.cells_skipped + finished, cells.size(), g.name.c_str(),
                    level_label(c.assumed).c_str(), level_label(c.truth).c_str(),
                    static_cast<unsigned long long>(c.seed), c.method.c_str(), 100 * before.mean,
                    100 * after.mean, 100 * oracle.mean);
      if (cb.log) cb.log(buf);
      if (cb.progress) {
        const double elapsed = std::chrono::duration<double>(Clock::now() - t_cells).count();
        cb.progress(
            summary.cells_skipped + finished, cells.size(),
            elapsed / static_cast<double>(finished) * static_cast<double>(todo.size() - finished));
      }
    });
    summary.cells_run = finished;
  } catch (...) {
    created.remove_unless_work(results_path, models_dir);
    throw;
  }
  summary.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  return summary;
}

}  // namespace gift::experiment

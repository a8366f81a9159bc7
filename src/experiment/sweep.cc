#include "gift/experiment/sweep.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "experiment_util.h"
#include "gift/core/error.h"
#include "gift/core/threads.h"
#include "gift/data/dataset.h"
#include "gift/experiment/number_text.h"
#include "gift/insitu/simulated_device.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"
#include "gift/train/engine.h"
#include "gift/train/trainer.h"
#include "results_file.h"

// Running a sweep: naming, planning, the pool that trains its networks, run_cell, and run_sweep,
// which puts them together around the results file. (The config is sweep_config.cc's.)
namespace gift::experiment {
namespace {

using Clock = std::chrono::steady_clock;
using namespace detail;

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

// The networks `todo` needs: each cell's start (trained at its assumed level) and oracle
// (trained at its true level), in ModelKey order.
std::vector<ModelKey> needed_models(const std::vector<const SweepCell*>& todo) {
  std::set<ModelKey> needed;
  for (const SweepCell* c : todo) {
    needed.insert({c->grid, c->assumed, c->seed});
    needed.insert({c->grid, c->truth, c->seed});
  }
  return {needed.begin(), needed.end()};
}

// Trains the network `k` with `threads` threads into its checkpoint at `path`, resuming what
// that holds and saving after every epoch; returns false (and does nothing) if it is finished.
bool train_model(const SweepConfig& cfg, const ModelKey& k, const std::string& path,
                 const LabelledSet& train, int threads,
                 const std::function<void(const std::string&)>& log) {
  io::Checkpoint ck;
  if (path_exists(path)) ck = io::load_checkpoint(path);
  if (ck.state.epochs_done >= cfg.train_epochs) return false;
  const bool fresh = ck.net.params().size() == 0;
  if (fresh) {
    ck.net = Network(cfg.architecture());
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
    io::save_checkpoint(path, ck);
  };
  const TrainSummary ts = gift::train(ck.net, train.images, train.labels, ck.train, ck.state, tcb);
  if (ts.diverged) throw InputError("sweep: training " + path + " diverged: " + ts.message);
  char buf[256];
  std::snprintf(buf, sizeof buf, "trained %s (%s, %d epochs, %.0f s)", path.c_str(),
                ck.train.noise.describe().c_str(), cfg.train_epochs, ts.seconds);
  log(buf);
  return true;
}

// The training pool: trains every network of `models` that its checkpoint in `dir` does not hold
// finished; returns how many it trained. Networks train one per job, one thread each; the last
// n mod jobs share the jobs' threads so that no core idles at the end (results do not depend on
// the thread count).
size_t train_models(const SweepConfig& cfg, const std::string& dir,
                    const std::vector<ModelKey>& models, const LabelledSet& train, int jobs,
                    const std::function<void(const std::string&)>& log) {
  std::atomic<size_t> trained{0};
  const size_t full = models.size() / static_cast<size_t>(jobs) * static_cast<size_t>(jobs);
  const size_t rest = models.size() - full;
  const auto train_one = [&](size_t i, int threads) {
    const ModelKey& k = models[i];
    const std::string path = sweep_model_path(dir, cfg.grids[k.grid].name, k.level, k.seed);
    if (train_model(cfg, k, path, train, threads, log)) ++trained;
  };
  parallel_for(full, jobs, [&](size_t i) { train_one(i, 1); });
  parallel_for(rest, static_cast<int>(rest), [&](size_t i) {
    train_one(full + i, std::max(1, jobs / static_cast<int>(std::max<size_t>(rest, 1))));
  });
  return trained;
}

// The data of a sweep, checked against its network: the training set, and per seed the lab's
// labelled images and the images every accuracy is measured on.
struct SweepData {
  LabelledSet train;
  std::map<uint64_t, LabSplit> labs;
};

SweepData load_sweep_data(const SweepConfig& cfg) {
  const Architecture arch = cfg.architecture();
  const std::string data_dir =
      cfg.data_dir.empty() ? data::default_data_dir(cfg.dataset) : cfg.data_dir;
  data::Dataset train_set =
      load_limited(cfg.dataset, data_dir, data::Split::kTrain, cfg.train_limit);
  data::Dataset test_set = load_limited(cfg.dataset, data_dir, data::Split::kTest, cfg.test_limit);
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
  check_lab_size("sweep: finetune.calib_size", cfg.calib_size, test_set.size(), cfg.test_limit > 0,
                 data_dir);
  SweepData data;
  data.train = {std::move(train_set.images), std::move(train_set.labels)};  // no copy
  const LabelledSet test{std::move(test_set.images), std::move(test_set.labels)};
  for (uint64_t seed : cfg.seeds) data.labs[seed] = lab_split(test, cfg.calib_size, seed);
  return data;
}

// "[12/36] sum_add a=0.5 t=1 seed=2 gift    81.20% -> 84.10% (oracle 86.00%)".
std::string cell_line(size_t done, size_t total, const SweepRow& row) {
  char buf[256];
  std::snprintf(
      buf, sizeof buf, "[%zu/%zu] %s a=%s t=%s seed=%llu %-7s %.2f%% -> %.2f%% (oracle %.2f%%)",
      done, total, row.grid.c_str(), level_label(row.assumed_level).c_str(),
      level_label(row.true_level).c_str(), static_cast<unsigned long long>(row.seed),
      row.method.c_str(), 100 * row.acc_before, 100 * row.acc_after, 100 * row.acc_oracle);
  return buf;
}

}  // namespace

std::string sweep_model_path(const std::string& dir, const std::string& grid, double level,
                             uint64_t seed) {
  return dir + "/models/" + grid + "-l" + level_label(level) + "-s" + std::to_string(seed) +
         ".safetensors";
}

uint64_t sweep_device_seed(const std::string& grid, double truth, uint64_t seed) {
  return fnv1a(grid + "|" + level_label(truth) + "|" + std::to_string(seed));
}

std::vector<SweepCell> plan_cells(const SweepConfig& cfg) {
  std::vector<SweepCell> cells;
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
  return cells;
}

SweepRow run_cell(const SweepConfig& cfg, const SweepCell& c, const Network& start,
                  const Network& oracle_net, const LabSplit& lab, const LabelledSet& train) {
  const GridSpec& g = cfg.grids[c.grid];
  SimulatedDeviceOptions so;
  so.noise = g.pattern.scaled(c.truth);
  so.imperfections = cfg.imperfections;
  so.seed = sweep_device_seed(g.name, c.truth, c.seed);
  so.threads = 1;
  SimulatedDevice device(cfg.architecture(), so);
  const DeviceAccuracy before = device_accuracy(device, start, lab.eval, cfg.eval_repeats);
  const DeviceAccuracy oracle = device_accuracy(device, oracle_net, lab.eval, cfg.eval_repeats);
  FinetuneOptions o = cfg.finetune;
  o.assumed = g.pattern.scaled(c.assumed);
  o.seed = c.seed;
  o.threads = 1;
  o.calibration.seed = c.seed;
  o.calibration.threads = 1;
  Network net = start;
  const FinetuneReport rep = make_method(c.method)->run(net, device, lab.calib, train, o);
  const DeviceAccuracy after = device_accuracy(device, net, lab.eval, cfg.eval_repeats);
  SweepRow row;
  row.key = c.key;
  row.grid = g.name;
  row.assumed_level = c.assumed;
  row.true_level = c.truth;
  row.seed = c.seed;
  row.method = c.method;
  row.dataset = cfg.dataset;
  row.acc_before = before.mean;
  row.acc_before_ci = {before.low, before.high};
  row.acc_after = after.mean;
  row.acc_after_ci = {after.low, after.high};
  row.acc_oracle = oracle.mean;
  row.acc_oracle_ci = {oracle.low, oracle.high};
  row.relative_improvement = (after.mean - before.mean) / before.mean;
  row.recovery = recovery_of(before.mean, after.mean, oracle.mean);
  row.device_passes = static_cast<int64_t>(rep.device_passes);
  row.device_programmings = static_cast<int64_t>(rep.device_programmings);
  row.sample_gradients = static_cast<int64_t>(rep.sample_gradients);
  row.digital_seconds = rep.digital_seconds;
  row.accepted = rep.accepted;
  return row;
}

namespace {

// Phase 2 of a sweep: runs the cells of `todo` on `jobs` threads with the networks `models`,
// appending each row to `results` as it finishes; logs it and reports progress (under cb_mu,
// counting from `skipped` of `total`). Returns how many cells it ran.
size_t run_cells(const SweepConfig& cfg, const std::string& dir,
                 const std::vector<ModelKey>& models, const std::vector<const SweepCell*>& todo,
                 const SweepData& data, int jobs, ResultsFile& results, size_t skipped,
                 size_t total, const SweepCallbacks& cb, std::mutex& cb_mu) {
  std::map<ModelKey, Network> nets;
  for (const ModelKey& k : models) {
    nets[k] =
        io::load_checkpoint(sweep_model_path(dir, cfg.grids[k.grid].name, k.level, k.seed)).net;
  }
  size_t finished = 0;  // guarded by cb_mu
  const auto t_cells = Clock::now();
  parallel_for(todo.size(), jobs, [&](size_t i) {
    const SweepCell& c = *todo[i];
    const SweepRow row =
        run_cell(cfg, c, nets.at({c.grid, c.assumed, c.seed}), nets.at({c.grid, c.truth, c.seed}),
                 data.labs.at(c.seed), data.train);
    results.append(row_to_json(row));
    std::lock_guard<std::mutex> lock(cb_mu);
    ++finished;
    if (cb.log) cb.log(cell_line(skipped + finished, total, row));
    if (cb.progress) {
      cb.progress(skipped + finished, total,
                  eta_seconds(t_cells, finished, todo.size() - finished));
    }
  });
  return finished;
}

}  // namespace

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
  check_run_dir(dir, "sweep");
  if (path_exists(config_path) && io::read_file(config_path) != config_text) {
    throw InputError(dir + " holds a sweep with another configuration (" + config_path +
                     "); use another output directory");
  }
  const ExistingResults existing = read_existing_results(results_path);
  std::set<std::string> done;
  for (const SweepRow& row : parse_results(existing.text, results_path)) done.insert(row.key);

  const std::vector<SweepCell> cells = plan_cells(cfg);
  SweepSummary summary;
  summary.cells_total = cells.size();
  std::vector<const SweepCell*> todo;
  for (const SweepCell& c : cells) {
    if (!done.count(c.key)) todo.push_back(&c);
  }
  summary.cells_skipped = cells.size() - todo.size();
  if (summary.cells_skipped > 0)
    log(resume_line(summary.cells_skipped, cells.size(), results_path));
  if (max_cells > 0 && todo.size() > max_cells) todo.resize(max_cells);
  if (todo.empty()) {
    summary.seconds = seconds_since(t_start);
    return summary;
  }
  // The data, checked against the network, before the first file is created.
  const SweepData data = load_sweep_data(cfg);

  CreatedPaths created;
  try {
    created.make_dirs(models_dir);
    if (!path_exists(config_path)) {
      created.will_create(config_path);
      io::write_file_atomic(config_path, config_text);
    }
    created.will_create(results_path);
    ResultsFile results(results_path, existing.complete_bytes);

    // Phase 1: the networks the remaining cells need (trained at each needed level).
    const std::vector<ModelKey> models = needed_models(todo);
    summary.models_needed = models.size();
    summary.models_trained = train_models(cfg, dir, models, data.train, jobs, log);

    // Phase 2: the cells.
    summary.cells_run = run_cells(cfg, dir, models, todo, data, jobs, results,
                                  summary.cells_skipped, cells.size(), cb, cb_mu);
  } catch (...) {
    created.remove_unless_work(results_path, models_dir);
    throw;
  }
  summary.seconds = seconds_since(t_start);
  return summary;
}

}  // namespace gift::experiment

#include "gift/experiment/sweep.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "gift/core/clock.h"
#include "gift/core/error.h"
#include "gift/core/hash.h"
#include "gift/core/threads.h"
#include "gift/experiment/number_text.h"
#include "gift/experiment/sweep_plan.h"
#include "gift/insitu/methods.h"
#include "gift/insitu/simulated_device.h"
#include "gift/train/engine.h"

// Running a sweep: naming, planning, run_cell, the thread pools, and run_sweep, which puts them
// together on one machine with SweepPlan (sweep_plan.cc: checks, data, training one network, the
// results file). (The config is sweep_config.cc's.)
namespace gift::experiment {
namespace {

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

// The training pool: trains every network `models` (indices into plan.models()) names that its
// checkpoint does not hold finished; returns how many it trained. Networks train one per job, one
// thread each; the last n mod jobs share the jobs' threads so that no core idles at the end
// (results do not depend on the thread count).
size_t train_models(SweepPlan& plan, const std::vector<size_t>& models, int jobs) {
  std::atomic<size_t> trained{0};
  const size_t full = models.size() / static_cast<size_t>(jobs) * static_cast<size_t>(jobs);
  const size_t rest = models.size() - full;
  const auto train_one = [&](size_t i, int threads) {
    if (plan.train_model(models[i], threads)) ++trained;
  };
  parallel_for(full, jobs, [&](size_t i) { train_one(i, 1); });
  parallel_for(rest, static_cast<int>(rest), [&](size_t i) {
    train_one(full + i, std::max(1, jobs / static_cast<int>(std::max<size_t>(rest, 1))));
  });
  return trained;
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
            cells.push_back({g, a, t, s, m, sweep_cell_key(cfg.grids[g].name, a, t, s, m)});
          }
        }
      }
    }
  }
  return cells;
}

std::string sweep_cell_key(const std::string& grid, double assumed, double truth, uint64_t seed,
                           const std::string& method) {
  StudyRow r;
  r.grid = grid;
  r.assumed_level = assumed;
  r.true_level = truth;
  r.seed = seed;
  r.method = method;
  return study_key(r);
}

StudyRow run_cell(const SweepConfig& cfg, const SweepCell& c, const Network& start,
                  const Network& oracle_net, const LabSplit& lab, const data::Dataset& train) {
  const auto t_cell = Clock::now();
  const GridSpec& g = cfg.grids[c.grid];
  SimulatedDeviceOptions so;
  so.noise = g.pattern.scaled(c.truth);
  so.imperfections = cfg.imperfections;
  so.seed = sweep_device_seed(g.name, c.truth, c.seed);
  so.threads = 1;
  // Every network is judged on a fresh copy of the chip (the same static errors, the same
  // draws: common random numbers), so `none` reads the same before and after and a difference
  // is paired pass by pass; the method works on a chip of its own.
  const auto judge = [&](const Network& n) {
    SimulatedDevice probe(cfg.architecture(), so);
    return device_accuracy(probe, n, lab.eval, cfg.eval_repeats);
  };
  const DeviceAccuracy before = judge(start);
  const Network oracle_ref = oracle_reference(oracle_net, train, so.noise, c.seed, 1);
  const DeviceAccuracy oracle = judge(oracle_ref);
  FinetuneOptions o = cfg.finetune;
  o.assumed = g.pattern.scaled(c.assumed);
  o.seed = c.seed;
  o.threads = 1;
  o.calibration.seed = c.seed;
  o.calibration.threads = 1;
  Network net = start;
  SimulatedDevice device(cfg.architecture(), so);
  const FinetuneReport rep = make_method(c.method)->run(net, device, lab.calib, train, o);
  const DeviceAccuracy after = judge(net);
  StudyRow row;
  row.key = c.key;
  row.grid = g.name;
  row.assumed_level = c.assumed;
  row.true_level = c.truth;
  row.seed = c.seed;
  row.method = c.method;
  row.device_seed = so.seed;
  row.dataset = cfg.dataset;
  row.acc_before = before.mean;
  row.acc_before_ci = before;  // the Interval of each accuracy
  row.acc_after = after.mean;
  row.acc_after_ci = after;
  row.acc_oracle = oracle.mean;
  row.acc_oracle_ci = oracle;
  row.relative_improvement = relative_improvement_of(before.mean, after.mean);
  row.recovery = recovery_of(before.mean, after.mean, oracle.mean);
  row.device_passes = rep.device_passes;
  row.device_programmings = rep.device_programmings;
  row.sample_gradients = rep.sample_gradients;
  row.digital_seconds = rep.digital_seconds;
  row.accepted = rep.accepted;
  row.budget_limited = rep.budget_limited;
  row.seconds = seconds_since(t_cell);
  return row;
}

SweepSummary run_sweep(const SweepConfig& cfg, const std::string& dir, int jobs_in,
                       const SweepCallbacks& cb, size_t max_cells) {
  SweepPlan plan(cfg, dir, cb);  // validates the config
  const int jobs = resolve_threads(jobs_in);
  if (plan.check(max_cells) == 0) return plan.summary(0);
  size_t trained = 0;
  try {
    plan.create();
    // Phase 1: the networks the remaining cells need (trained at each needed level).
    trained = train_models(plan, plan.todo_models(), jobs);
    // Phase 2: the cells, each row appended as it finishes.
    plan.load_networks();
    plan.start_cells();
    const std::vector<size_t>& todo = plan.todo();
    parallel_for(todo.size(), jobs, [&](size_t i) { plan.record(plan.run_cell(todo[i])); });
  } catch (...) {
    plan.abandon();
    throw;
  }
  return plan.summary(trained);
}

}  // namespace gift::experiment

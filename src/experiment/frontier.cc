#include "gift/experiment/frontier.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <utility>

#include "finetune_block.h"
#include "gift/core/clock.h"
#include "gift/core/error.h"
#include "gift/core/hash.h"
#include "gift/data/dataset.h"
#include "gift/experiment/number_text.h"
#include "gift/insitu/methods.h"
#include "gift/insitu/simulated_device.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"
#include "gift/io/json.h"
#include "gift/io/model_json.h"
#include "gift/train/loss.h"
#include "results_file.h"
#include "run_dir.h"

// Running a frontier: the case checked, its cells planned, every method probed against the
// ladder's smallest rung, then each cell run and appended to frontier.jsonl.
namespace gift::experiment {
namespace {

using nlohmann::json;
using namespace detail;

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

// Whether config.json's `stored` record and this run's `record` name the same frontier: equal but
// for the start and oracle checkpoint paths, which the networks' fingerprints stand for (so a
// folder reached by another spelling, moved or copied, resumes).
bool same_identity(json stored, json record) {
  for (json* r : {&stored, &record}) {
    if (r->is_object() && r->contains("frontier") && r->at("frontier").is_object()) {
      r->at("frontier").erase("checkpoint");
      r->at("frontier").erase("oracle");
    }
  }
  return stored == record;
}

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

// Every cell (its axes, frontier_cell), seed by seed: the start, then every method at every rung.
std::vector<StudyRow> plan_frontier_cells(const FrontierConfig& cfg) {
  std::vector<StudyRow> cells;
  for (uint64_t seed : cfg.seeds) {
    cells.push_back(frontier_cell(seed, "none", {0, 0}));
    for (const Rung& rung : cfg.ladder) {
      for (const std::string& m : cfg.methods) cells.push_back(frontier_cell(seed, m, rung));
    }
  }
  return cells;
}

// The case, checked: the device against the network, and the fine-tuning options of every cell
// (each cell sets its seed and budgets).
struct CheckedCase {
  SimulatedDeviceOptions device;
  FinetuneOptions base;
};

CheckedCase check_case(const FrontierConfig& cfg, const Network& start, const NoiseModel& assumed,
                       const Network& oracle) {
  const Architecture& arch = start.arch();
  if (oracle.arch() != arch) {
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
  CheckedCase c;
  SimulatedDeviceOptions& so = c.device;
  so.noise = device_noise;
  so.imperfections = cfg.imperfections;
  so.seed = cfg.device_seed;
  so.taps = cfg.taps;
  so.threads = cfg.threads;
  { SimulatedDevice check(arch, so); }  // validates the device against the network
  c.base = cfg.finetune;
  c.base.assumed = assumed;
  c.base.threads = cfg.threads;
  c.base.calibration.threads = cfg.threads;
  try {
    FinetuneOptions o = c.base;
    o.validate(arch);
  } catch (const InputError& e) {
    throw InputError(std::string("frontier: ") + e.what());
  }
  return c;
}

// The data of a case, checked against the network: the training set and the test split (the
// lab's images and the accuracies' are drawn from it per seed).
struct FrontierData {
  std::string dataset;
  data::Dataset train, test;
};

FrontierData load_frontier_data(const FrontierConfig& cfg, const Architecture& arch,
                                const std::string& dataset_default) {
  const std::string dataset = cfg.dataset.empty() ? dataset_default : cfg.dataset;
  data::check_dataset_name(dataset, "frontier");
  const std::string data_dir =
      cfg.data_dir.empty() ? data::default_data_dir(dataset) : cfg.data_dir;
  data::Dataset train_set =
      data::load_dataset(dataset, data_dir, data::Split::kTrain, cfg.train_limit);
  data::Dataset test_set =
      data::load_dataset(dataset, data_dir, data::Split::kTest, cfg.test_limit);
  check_labelled_data(arch, train_set.images, train_set.labels,
                      "frontier: the training set of " + data_dir);
  check_labelled_data(arch, test_set.images, test_set.labels,
                      "frontier: the test set of " + data_dir);
  check_lab_size("frontier: calib_size", cfg.calib_size, test_set.size(), cfg.test_limit > 0,
                 data_dir);
  FrontierData d;
  d.dataset = dataset;
  d.train = std::move(train_set);  // no copy
  d.test = std::move(test_set);
  return d;
}

// Per seed, as gift finetune and the sweep split it: the lab's labelled images and the images
// every accuracy is measured on. Made for one seed at a time (cells run seed by seed).
class Labs {
 public:
  Labs(const data::Dataset& test, size_t calib_size, uint64_t first)
      : test_(test), calib_size_(calib_size), lab_{first, lab_split(test, calib_size, first)} {}
  const LabSplit& of(uint64_t seed) {
    if (lab_.first != seed) lab_ = {seed, lab_split(test_, calib_size_, seed)};
    return lab_.second;
  }

 private:
  const data::Dataset& test_;
  size_t calib_size_;
  std::pair<uint64_t, LabSplit> lab_;
};

// Every method with the ladder's smallest pass budget, on a device that stops it at its first
// use: what a method refuses before it touches the chip (a budget below its fixed cost of
// calibration and scoring) is refused here, before any file exists.
void probe_methods(const FrontierConfig& cfg, const CheckedCase& fc, const Network& start,
                   const data::Dataset& calib, const data::Dataset& train) {
  const Rung smallest =
      *std::min_element(cfg.ladder.begin(), cfg.ladder.end(),
                        [](const Rung& a, const Rung& b) { return a.passes < b.passes; });
  const DeviceInfo info = SimulatedDevice(start.arch(), fc.device).info();
  for (const std::string& m : cfg.methods) {
    FinetuneOptions o = fc.base;
    o.seed = cfg.seeds.front();
    o.budget_gradients = smallest.gradients;
    o.budget_passes = smallest.passes;
    StopAtFirstUse device(info);
    Network net = start;
    try {
      make_method(m)->run(net, device, calib, train, o);
    } catch (const StopAtFirstUse::Reached&) {
      // the method got as far as the chip: its budgets are feasible
    } catch (const InputError& e) {
      throw InputError("frontier: method " + m + " refuses the rung " +
                       std::to_string(smallest.gradients) + ":" + std::to_string(smallest.passes) +
                       " (the ladder's fewest passes): " + e.what());
    }
  }
}

// The start cell of a seed: the start and the oracle measured on the device; *line says so.
void run_start_cell(const FrontierConfig& cfg, const CheckedCase& fc, const Network& start,
                    const Network& oracle, const data::Dataset& eval, const data::Dataset& train,
                    uint64_t seed, StudyRow& row, std::string* line) {
  // Each network on a fresh copy of the chip: common random numbers (run_method_cell too).
  SimulatedDevice probe(start.arch(), fc.device);
  const DeviceAccuracy before = device_accuracy(probe, start, eval, cfg.eval_repeats);
  const Network oracle_ref = oracle_reference(oracle, train, fc.device.noise, seed, 1);
  SimulatedDevice probe2(start.arch(), fc.device);
  const DeviceAccuracy orc = device_accuracy(probe2, oracle_ref, eval, cfg.eval_repeats);
  row.acc_before = row.acc_after = before.mean;
  row.acc_before_ci = row.acc_after_ci = before;  // the Interval of the accuracy
  row.acc_oracle = orc.mean;
  row.acc_oracle_ci = orc;
  row.relative_improvement = relative_improvement_of(before.mean, before.mean);
  row.recovery = recovery_of(before.mean, before.mean, orc.mean);
  char buf[512];
  std::snprintf(buf, sizeof buf, "seed %llu: start %.2f%% [%.2f, %.2f], oracle %.2f%%",
                static_cast<unsigned long long>(row.seed), 100 * before.mean, 100 * before.low,
                100 * before.high, 100 * orc.mean);
  *line = buf;
}

// A method at a rung, from the start of its seed (`ref`, that seed's start row); *line says so.
void run_method_cell(const FrontierConfig& cfg, const CheckedCase& fc, const Network& start,
                     const StudyRow& ref, const LabSplit& split, const data::Dataset& train,
                     StudyRow& row, std::string* line) {
  FinetuneOptions o = fc.base;
  o.seed = row.seed;
  o.calibration.seed = row.seed;
  o.budget_gradients = row.budget.gradients;
  o.budget_passes = row.budget.passes;
  SimulatedDevice device(start.arch(), fc.device);
  Network net = start;
  const FinetuneReport rep = make_method(row.method)->run(net, device, split.calib, train, o);
  SimulatedDevice judge(start.arch(), fc.device);  // the draws the start was judged with
  const DeviceAccuracy after = device_accuracy(judge, net, split.eval, cfg.eval_repeats);
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
  row.acc_after_ci = after;
  row.relative_improvement = relative_improvement_of(row.acc_before, after.mean);
  row.recovery = recovery_of(row.acc_before, after.mean, row.acc_oracle);
  char rec[32] = "-";
  if (row.recovery) std::snprintf(rec, sizeof rec, "%.2f", *row.recovery);
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "seed %llu %-7s %7llu:%-6llu %.2f%% -> %.2f%% (recovery %s; spent %llu "
                "gradients, %llu passes%s%s)",
                static_cast<unsigned long long>(row.seed), row.method.c_str(),
                static_cast<unsigned long long>(row.budget.gradients),
                static_cast<unsigned long long>(row.budget.passes), 100 * row.acc_before,
                100 * after.mean, rec, static_cast<unsigned long long>(rep.sample_gradients),
                static_cast<unsigned long long>(rep.device_passes),
                rep.accepted ? "; accepted" : "; start kept",
                rep.budget_limited ? "; budget-limited" : "");
  *line = buf;
}

// Runs the cells of `cells` not in `done` in order, appending each row to `results` (and to
// `done`); returns how many it ran.
size_t run_cells(const FrontierConfig& cfg, const CheckedCase& fc, const Network& start,
                 const Network& oracle, const FrontierData& data, Labs& labs,
                 const std::vector<StudyRow>& cells, size_t skipped, size_t todo,
                 std::map<std::string, StudyRow>& done, ResultsFile& results,
                 const FrontierCallbacks& cb) {
  size_t finished = 0;
  const auto t_cells = Clock::now();
  for (const StudyRow& c : cells) {
    if (done.count(c.key)) continue;
    const auto t_cell = Clock::now();
    StudyRow row = c;
    row.device_seed = cfg.device_seed;
    row.dataset = data.dataset;
    std::string line;
    if (c.method == "none") {
      run_start_cell(cfg, fc, start, oracle, labs.of(c.seed).eval, data.train, c.seed, row, &line);
    } else {
      const StudyRow& ref = done.at(frontier_cell(c.seed, "none", {0, 0}).key);
      run_method_cell(cfg, fc, start, ref, labs.of(c.seed), data.train, row, &line);
    }
    row.seconds = seconds_since(t_cell);
    results.append(row_to_json(row));
    done.emplace(row.key, row);
    ++finished;
    char head[64];
    std::snprintf(head, sizeof head, "[%zu/%zu] ", skipped + finished, cells.size());
    if (cb.log) cb.log(head + line + " " + fixed_text(row.seconds, 1) + " s");
    if (cb.progress) {
      cb.progress(skipped + finished, cells.size(),
                  eta_seconds(t_cells, finished, todo - finished));
    }
  }
  return finished;
}

FrontierSummary run_case(const FrontierConfig& cfg, const Network& start, const NoiseModel& assumed,
                         const Network& oracle, const std::string& dataset_default,
                         const std::string& dir, const FrontierCallbacks& cb) {
  cfg.validate();
  const auto t_start = Clock::now();
  if (dir.empty()) throw InputError("frontier: expected an output directory, found an empty path");
  const std::string config_path = dir + "/config.json";
  const std::string rows_path = dir + "/frontier.jsonl";
  const CheckedCase fc = check_case(cfg, start, assumed, oracle);

  // One writer per folder: locked before anything in it is read; a refusal removes again what
  // this made (abandon), so it creates nothing.
  HeldRunDir held(dir, "frontier");
  FrontierSummary summary;
  try {
    const json record = record_of(cfg, assumed, start, oracle);
    if (path_exists(config_path) &&
        !same_identity(io::parse_json(io::read_file(config_path), config_path), record)) {
      throw InputError(dir + " holds a frontier with another configuration or other networks (" +
                       config_path + "); use another output directory");
    }
    const ExistingResults existing = read_existing_results(rows_path);
    std::map<std::string, StudyRow> done;
    for (StudyRow& r : parse_results(existing.text, rows_path)) done.emplace(r.key, std::move(r));

    const std::vector<StudyRow> cells = plan_frontier_cells(cfg);
    summary.cells_total = cells.size();
    size_t todo = 0;
    for (const StudyRow& c : cells) todo += done.count(c.key) ? 0 : 1;
    summary.cells_skipped = cells.size() - todo;
    if (summary.cells_skipped > 0 && cb.log) {
      cb.log(resume_line(summary.cells_skipped, cells.size(), rows_path));
    }
    if (todo == 0) {
      summary.seconds = seconds_since(t_start);
      return summary;
    }

    // The data, checked against the network, and the methods against the ladder, before the
    // first file is created.
    const FrontierData data = load_frontier_data(cfg, start.arch(), dataset_default);
    Labs labs(data.test, cfg.calib_size, cfg.seeds.front());
    probe_methods(cfg, fc, start, labs.of(cfg.seeds.front()).calib, data.train);

    if (!path_exists(config_path)) {
      held.created().will_create(config_path);
      io::write_file_atomic(config_path, record.dump(2) + "\n");
    }
    held.created().will_create(rows_path);
    ResultsFile results(rows_path, existing.complete_bytes, held.lock());
    summary.cells_run = run_cells(cfg, fc, start, oracle, data, labs, cells, summary.cells_skipped,
                                  todo, done, results, cb);
  } catch (...) {
    held.abandon(rows_path, "");
    throw;
  }
  summary.seconds = seconds_since(t_start);
  return summary;
}

}  // namespace

FrontierSummary run_frontier(const FrontierConfig& config, const std::string& dir,
                             const FrontierCallbacks& callbacks) {
  config.validate();
  if (config.checkpoint.empty()) throw InputError("frontier: the start checkpoint is not given");
  if (config.oracle.empty()) throw InputError("frontier: the oracle checkpoint is not given");
  const io::Checkpoint start = io::load_checkpoint(config.checkpoint);
  const io::Checkpoint oracle = io::load_checkpoint(config.oracle);
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

}  // namespace gift::experiment

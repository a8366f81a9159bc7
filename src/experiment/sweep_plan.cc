// SweepPlan: the pieces of a sweep (checks, planning, the data, training one network, running one
// cell, the results file), shared by run_sweep (sweep.cc) and the CLI's MPI backend.
#include "gift/experiment/sweep_plan.h"

#include <cstdio>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "finetune_block.h"
#include "gift/core/clock.h"
#include "gift/core/error.h"
#include "gift/data/dataset.h"
#include "gift/experiment/number_text.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"
#include "gift/train/trainer.h"
#include "results_file.h"
#include "run_dir.h"

namespace gift::experiment {

using namespace detail;

bool SweepModel::operator<(const SweepModel& o) const {
  return std::tie(grid, level, seed) < std::tie(o.grid, o.level, o.seed);
}

// The data of a sweep, checked against its network: the training and test splits, one copy
// each, and the lab splits (the lab's labelled images and the images every accuracy is measured
// on) of the seeds whose cells are in flight, each made once and shared while held.
struct SweepPlan::Data {
  data::Dataset train;
  data::Dataset test;
  std::map<uint64_t, std::weak_ptr<const LabSplit>> labs;  // under labs_mu_
};

// The directory check() locked (and made, if missing) and the results file create() opened.
struct SweepPlan::Files {
  explicit Files(const std::string& dir) : held(dir, "sweep") {}
  HeldRunDir held;
  std::optional<ResultsFile> results;
};

namespace {

// "[12/36] sum_add a=0.5 t=1 seed=2 gift    81.20% -> 84.10% (oracle 86.00%)".
std::string cell_line(size_t done, size_t total, const StudyRow& row) {
  char buf[256];
  std::snprintf(
      buf, sizeof buf, "[%zu/%zu] %s a=%s t=%s seed=%llu %-7s %.2f%% -> %.2f%% (oracle %.2f%%)",
      done, total, row.grid.c_str(), level_label(row.assumed_level).c_str(),
      level_label(row.true_level).c_str(), static_cast<unsigned long long>(row.seed),
      row.method.c_str(), 100 * row.acc_before, 100 * row.acc_after, 100 * row.acc_oracle);
  return buf;
}

// The checks of load_data on one split: image width = the network's inputs, classes <= outputs.
void check_split(const SweepConfig& cfg, const Architecture& arch, const data::Dataset& d,
                 const char* split, const std::string& data_dir) {
  if (d.images.cols() != arch.inputs()) {
    throw InputError("sweep: the network '" + cfg.arch + "' takes " +
                     std::to_string(arch.inputs()) + " inputs, but the " + split + " images in " +
                     data_dir + " have " + std::to_string(d.images.cols()) + " pixels (" +
                     std::to_string(d.rows) + "x" + std::to_string(d.cols) + ")");
  }
  if (arch.outputs() < d.num_classes) {
    throw InputError("sweep: the network '" + cfg.arch + "' has " + std::to_string(arch.outputs()) +
                     " outputs, fewer than the " + std::to_string(d.num_classes) + " classes of " +
                     data_dir);
  }
}

std::string model_path(const SweepPlan& p, const SweepModel& m) {
  return sweep_model_path(p.dir(), p.config().grids[m.grid].name, m.level, m.seed);
}

}  // namespace

SweepPlan::SweepPlan(const SweepConfig& config, std::string dir, SweepCallbacks callbacks)
    : t_start_(Clock::now()), config_(config), dir_(std::move(dir)), cb_(std::move(callbacks)) {
  config_.validate();
  cells_ = plan_cells(config_);
  std::set<SweepModel> models;
  for (const SweepCell& c : cells_) {
    models.insert({c.grid, c.assumed, c.seed});
    models.insert({c.grid, c.truth, c.seed});
  }
  models_.assign(models.begin(), models.end());
}

SweepPlan::~SweepPlan() {
  // Checked but never created (nothing left to do, or the caller stopped there): let go of the
  // folder, removing it again if check() made it.
  if (files_ && !files_->results) abandon();
}

size_t SweepPlan::check(size_t max_cells) {
  if (dir_.empty()) throw InputError("sweep: expected an output directory, found an empty path");
  const std::string config_path = dir_ + "/config.json";
  const std::string results_path = dir_ + "/results.jsonl";
  // One writer per folder: locked before anything in it is read; a refusal removes again what
  // this made (abandon), so it creates nothing.
  if (!files_) files_ = std::make_unique<Files>(dir_);  // a second check() keeps the lock
  try {
    check_locked(max_cells, config_path, results_path);
  } catch (...) {
    abandon();
    throw;
  }
  return todo_.size();
}

void SweepPlan::check_locked(size_t max_cells, const std::string& config_path,
                             const std::string& results_path) {
  if (path_exists(config_path) && io::read_file(config_path) != config_.to_json().dump(2) + "\n") {
    throw InputError(dir_ + " holds a sweep with another configuration (" + config_path +
                     "); use another output directory");
  }
  const ExistingResults existing = read_existing_results(results_path);
  complete_bytes_ = existing.complete_bytes;
  std::set<std::string> done;
  for (const StudyRow& row : parse_results(existing.text, results_path)) done.insert(row.key);
  todo_.clear();
  for (size_t i = 0; i < cells_.size(); ++i) {
    if (!done.count(cells_[i].key)) todo_.push_back(i);
  }
  skipped_ = cells_.size() - todo_.size();
  if (skipped_ > 0) log(resume_line(skipped_, cells_.size(), results_path));
  if (max_cells > 0 && todo_.size() > max_cells) todo_.resize(max_cells);
  // The data, checked against the network, before the first file is created.
  if (!todo_.empty()) load_data();
}

std::vector<size_t> SweepPlan::todo_models() const {
  std::set<SweepModel> needed;
  for (size_t i : todo_) {
    const SweepCell& c = cells_[i];
    needed.insert({c.grid, c.assumed, c.seed});
    needed.insert({c.grid, c.truth, c.seed});
  }
  std::vector<size_t> out;
  for (size_t i = 0; i < models_.size(); ++i) {
    if (needed.count(models_[i])) out.push_back(i);
  }
  return out;
}

void SweepPlan::create() {
  const std::string config_path = dir_ + "/config.json";
  const std::string results_path = dir_ + "/results.jsonl";
  if (!files_) throw InternalError("SweepPlan::create before check()");
  CreatedPaths& created = files_->held.created();
  created.make_dirs(dir_ + "/models");
  if (!path_exists(config_path)) {
    created.will_create(config_path);
    io::write_file_atomic(config_path, config_.to_json().dump(2) + "\n");
  }
  created.will_create(results_path);
  files_->results.emplace(results_path, complete_bytes_, files_->held.lock());
}

void SweepPlan::record(const StudyRow& row) {
  if (!files_ || !files_->results) throw InternalError("SweepPlan::record before create()");
  files_->results->append(row_to_json(row));
  std::lock_guard<std::mutex> lock(mu_);
  ++cells_run_;
  if (cb_.log) cb_.log(cell_line(skipped_ + cells_run_, cells_.size(), row));
  if (cb_.progress) {
    cb_.progress(skipped_ + cells_run_, cells_.size(),
                 eta_seconds(t_cells_, cells_run_, todo_.size() - cells_run_));
  }
}

void SweepPlan::start_cells() { t_cells_ = Clock::now(); }

void SweepPlan::abandon() noexcept {
  if (!files_) return;
  files_->results.reset();
  files_->held.abandon(dir_ + "/results.jsonl", dir_ + "/models");
  files_.reset();  // once: what others create here from now on is theirs
}

SweepSummary SweepPlan::summary(size_t models_trained) const {
  SweepSummary s;
  s.cells_total = cells_.size();
  s.cells_skipped = skipped_;
  s.cells_run = cells_run_;
  s.models_needed = todo_.empty() ? 0 : todo_models().size();
  s.models_trained = models_trained;
  s.seconds = seconds_since(t_start_);
  return s;
}

void SweepPlan::load_data() {
  if (data_) return;
  const Architecture arch = config_.architecture();
  const SweepConfig& cfg = config_;
  const std::string data_dir =
      cfg.data_dir.empty() ? data::default_data_dir(cfg.dataset) : cfg.data_dir;
  data::Dataset train_set =
      data::load_dataset(cfg.dataset, data_dir, data::Split::kTrain, cfg.train_limit);
  data::Dataset test_set =
      data::load_dataset(cfg.dataset, data_dir, data::Split::kTest, cfg.test_limit);
  check_split(cfg, arch, train_set, "training", data_dir);
  check_split(cfg, arch, test_set, "test", data_dir);
  check_lab_size("sweep: finetune.calib_size", cfg.calib_size, test_set.size(), cfg.test_limit > 0,
                 data_dir);
  auto data = std::make_unique<Data>();
  data->train = std::move(train_set);  // no copy
  data->test = std::move(test_set);
  data_ = std::move(data);
}

std::shared_ptr<const LabSplit> SweepPlan::lab(uint64_t seed) {
  if (!data_) throw InternalError("SweepPlan::lab before load_data()");
  std::lock_guard<std::mutex> lock(labs_mu_);
  std::weak_ptr<const LabSplit>& held = data_->labs[seed];
  std::shared_ptr<const LabSplit> s = held.lock();
  if (!s) {
    // Made under the lock, so concurrent cells of one seed wait for one split, not make two.
    s = std::make_shared<const LabSplit>(lab_split(data_->test, config_.calib_size, seed));
    held = s;
  }
  return s;
}

size_t SweepPlan::labs_held() const {
  std::lock_guard<std::mutex> lock(labs_mu_);
  size_t n = 0;
  if (data_) {
    for (const auto& [seed, held] : data_->labs) n += !held.expired();
  }
  return n;
}

bool SweepPlan::train_model(size_t model, int threads) {
  if (!data_) throw InternalError("SweepPlan::train_model before load_data()");
  const SweepConfig& cfg = config_;
  const SweepModel& k = models_.at(model);
  const std::string path = model_path(*this, k);
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
  const data::Dataset& train = data_->train;
  const TrainSummary ts = gift::train(ck.net, train.images, train.labels, ck.train, ck.state, tcb);
  if (ts.diverged) throw InputError("sweep: training " + path + " diverged: " + ts.message);
  char buf[256];
  std::snprintf(buf, sizeof buf, "trained %s (%s, %d epochs, %.0f s)", path.c_str(),
                ck.train.noise.describe().c_str(), cfg.train_epochs, ts.seconds);
  log(buf);
  return true;
}

const Network& SweepPlan::network(const SweepModel& m) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<Network>& net = networks_[m];
  if (!net) net = std::make_unique<Network>(io::load_checkpoint(model_path(*this, m)).net);
  return *net;
}

void SweepPlan::load_networks() {
  for (size_t i : todo_models()) network(models_[i]);
}

StudyRow SweepPlan::run_cell(size_t cell) {
  if (!data_) throw InternalError("SweepPlan::run_cell before load_data()");
  const SweepCell& c = cells_.at(cell);
  const Network& start = network({c.grid, c.assumed, c.seed});
  const Network& oracle = network({c.grid, c.truth, c.seed});
  const std::shared_ptr<const LabSplit> split = lab(c.seed);  // held for this cell only
  return experiment::run_cell(config_, c, start, oracle, *split, data_->train);
}

void SweepPlan::log(const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cb_.log) cb_.log(line);
}

}  // namespace gift::experiment

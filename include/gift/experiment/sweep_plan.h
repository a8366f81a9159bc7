// A sweep in pieces (sweep.h's run_sweep, taken apart), so that a driver other than run_sweep -
// the CLI's MPI backend, one coordinator and many workers - reuses the same checks, planning,
// training, cells and results file instead of copying them. run_sweep itself is written on top
// of SweepPlan, so both paths share every check, message and number.
//
// Two roles, one object each:
//   - the coordinator owns the sweep directory: check() locks it (one writer per folder; under
//     MPI, rank 0 alone), reads what a previous run left and picks the remaining cells (todo),
//     create() makes models/ and config.json and opens results.jsonl, record()
//     appends one row per finished cell, abandon() undoes a failed first run;
//   - a worker (or the coordinator itself, in one process) trains networks (train_model) and
//     runs cells (run_cell), both named by an index into models() and cells(), which every
//     process computes alike from the same config: no file is read or written but the model
//     checkpoints, each written atomically.
// Cells are seeded by their identity only, so a row does not depend on which process runs it,
// in which order, or with how many threads the networks were trained.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gift/experiment/sweep.h"

namespace gift::experiment {

// A network a sweep trains: the grid's pattern x level, with that seed (sweep_model_path names
// its checkpoint). Ordered by (grid, level, seed), the order the sweep trains them in.
struct SweepModel {
  size_t grid = 0;  // index into SweepConfig::grids
  double level = 0;
  uint64_t seed = 0;
  bool operator<(const SweepModel& o) const;
};

class SweepPlan {
 public:
  // Validates `config` (SweepConfig::validate; throws InputError) and lists its cells and the
  // networks they use. Reads and creates nothing. The destructor lets go of the directory (and,
  // if create() was never called, removes what check() made). Callbacks are called one at a time
  // (under one lock), from whichever thread calls train_model, record or log.
  SweepPlan(const SweepConfig& config, std::string dir, SweepCallbacks callbacks = {});
  ~SweepPlan();
  SweepPlan(const SweepPlan&) = delete;
  SweepPlan& operator=(const SweepPlan&) = delete;

  const SweepConfig& config() const { return config_; }
  const std::string& dir() const { return dir_; }
  const std::vector<SweepCell>& cells() const { return cells_; }     // plan_cells(config)
  const std::vector<SweepModel>& models() const { return models_; }  // of every cell, ordered

  // ---- the coordinator

  // Locks `dir` for this process (creating it if missing: one writer per folder, see
  // docs/reliability.md), then checks, creating nothing that outlives a refusal: `dir` is not
  // empty and not a file, and no other process holds it; an existing config.json equals
  // this config; an existing results.jsonl parses (parse_results). Logs the resume line if cells
  // are finished, then picks the unfinished ones in plan order, the first `max_cells` of them if
  // max_cells > 0. If any remain, loads the data and checks it against the network and
  // calib_size (load_data). Returns how many cells remain. Throws InputError.
  size_t check(size_t max_cells);
  const std::vector<size_t>& todo() const { return todo_; }  // indices into cells()
  size_t cells_skipped() const { return skipped_; }
  // Indices into models() of the networks the todo cells use (each cell's start and oracle).
  std::vector<size_t> todo_models() const;

  // Creates models/ in `dir`, writes config.json if missing and opens
  // results.jsonl for appending (dropping a partial last line). After check().
  void create();
  // Appends the row of a todo cell to results.jsonl (one write, then fsync), logs its line
  // "[done/total] grid a=.. t=.. seed=.. method before -> after (oracle ..)" and reports
  // progress. Thread-safe. Throws InputError if the append fails.
  void record(const StudyRow& row);
  // Starts the clock of the progress report's estimate of the time left (before the first cell).
  void start_cells();
  // After a failure: removes what check() and create() made unless `dir` holds finished work (a
  // result row or a model file), and lets go of `dir`; what a previous run made is never removed.
  // Never throws.
  void abandon() noexcept;
  // The summary so far: cells_run counts record()s; models_trained is the caller's count.
  SweepSummary summary(size_t models_trained) const;

  // ---- any process

  // Loads the training and test splits (once, each decoding only its train_limit/test_limit
  // rows), checked against the network: image width = its inputs, classes <= its outputs,
  // calib_size < the test images. Holds one copy of each split, whatever the number of seeds.
  void load_data();
  // The lab split of `seed` (lab_split of the test split with calib_size), made when first asked
  // for and shared by every caller while one holds it; dropped when the last lets go. So the
  // splits held at once are those of the cells in flight, not one per seed. Thread-safe; needs
  // load_data().
  std::shared_ptr<const LabSplit> lab(uint64_t seed);
  // How many seeds' lab splits are held now (by run_cell or lab()'s callers).
  size_t labs_held() const;
  // Trains models()[model] with `threads` threads into its checkpoint (resuming a partial one,
  // saving after every epoch), logging "trained <path> (...)". Returns false, doing nothing, if
  // the checkpoint is finished already. Needs load_data(). Throws InputError if it diverges.
  bool train_model(size_t model, int threads);
  // Loads the checkpoints of the networks the todo cells use (run_cell loads the others as it
  // needs them), so that a missing one fails before the first cell.
  void load_networks();
  // The row of cells()[cell] (sweep.h's run_cell, with its networks and data). Thread-safe;
  // needs load_data() and the cell's two networks trained.
  StudyRow run_cell(size_t cell);
  // Calls callbacks.log under the lock.
  void log(const std::string& line);

 private:
  struct Data;
  const Network& network(const SweepModel& m);
  void check_locked(size_t max_cells, const std::string& config_path,
                    const std::string& results_path);

  const std::chrono::steady_clock::time_point t_start_;
  const SweepConfig config_;
  const std::string dir_;
  const SweepCallbacks cb_;
  std::vector<SweepCell> cells_;
  std::vector<SweepModel> models_;
  std::vector<size_t> todo_;
  size_t skipped_ = 0;
  size_t complete_bytes_ = 0;  // of the existing results.jsonl
  std::unique_ptr<Data> data_;
  std::mutex mu_;               // callbacks, counters, networks_
  mutable std::mutex labs_mu_;  // data_->labs
  std::map<SweepModel, std::unique_ptr<Network>> networks_;
  std::chrono::steady_clock::time_point t_cells_;
  size_t cells_run_ = 0;
  struct Files;
  std::unique_ptr<Files> files_;
};

}  // namespace gift::experiment

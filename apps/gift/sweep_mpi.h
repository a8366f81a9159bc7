// `gift sweep` across the processes of an MPI job (compiled only when CMake found MPI: the
// macro GIFT_WITH_MPI). The library knows nothing of MPI; this backend drives
// experiment::SweepPlan.
//
// Roles: rank 0 coordinates - it reads the study, runs every check a one-process sweep runs,
// creates the directory, reads results.jsonl to resume, hands out work on request and appends
// every row (the one writer of results.jsonl and config.json), printing the same lines and
// progress a one-process sweep prints. Ranks 1..N-1 work: they ask for work, train the networks
// the remaining cells need (each checkpoint written atomically to the shared models/), then, once
// every needed network exists, run cells one at a time (single-threaded), sending each row back
// as its JSON line. A dynamic queue: whoever is free takes the next network or cell.
// The protocol, one message each way at a time per worker (tags kRequest and kJob):
//   worker -> 0: hello | ready (data loaded) | trained(flag, log line) | row(JSON) | error
//   0 -> worker: config (dir + config JSON + plan sizes) | train(model) | cell(cell) | stop
// Neither side spins a core while it waits: it probes, and sleeps 1 ms when nothing came.
// An error on any rank (an InputError from a cell, a failed check) ends the run: every worker is
// told to stop, rows that arrive meanwhile are still written, rank 0 throws the first error (the
// CLI prints its one line, exit 1), and the directory stays resumable.
#pragma once

#include <cstddef>
#include <functional>

#include "gift/experiment/sweep.h"

namespace gift::cli {

// MPI for the life of the object: MPI_Init_thread (MPI_THREAD_FUNNELED: only this thread calls
// MPI; training may use threads) in the constructor, MPI_Finalize in the destructor.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  int rank_ = 0, size_ = 1;
};

// Rank 0 of a session of 2 or more ranks: reads the config with `load` (whose InputError, like any
// other, stops the workers and is rethrown), then runs the sweep in `dir` across the workers,
// stopping after `max_cells` new cells if > 0. Returns the summary (models_trained counts the
// networks the workers trained).
experiment::SweepSummary coordinate_sweep(const std::function<experiment::SweepConfig()>& load,
                                          const std::string& dir, size_t max_cells,
                                          const experiment::SweepCallbacks& callbacks);

// Ranks 1..N-1: works for rank 0 until told to stop, training each network with
// `train_threads` threads. Prints nothing; errors go to rank 0.
void work_on_sweep(int train_threads);

}  // namespace gift::cli

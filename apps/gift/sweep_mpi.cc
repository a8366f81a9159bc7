// `gift sweep` across MPI ranks: the session, the messages, the coordinator and the worker
// (sweep_mpi.h says what each does). Compiled only with MPI.
#include "sweep_mpi.h"

#include <mpi.h>

#include <chrono>
#include <csignal>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gift/core/error.h"
#include "gift/experiment/results.h"
#include "gift/experiment/sweep_plan.h"
#include "gift/io/json.h"

namespace gift::cli {
namespace {

using experiment::StudyRow;
using experiment::SweepPlan;

constexpr int kRequest = 1;  // tag: worker -> coordinator
constexpr int kJob = 2;      // tag: coordinator -> worker

// The first byte of a message says what it is; the rest is its text.
enum Kind : char {
  kHello = 'h',    // worker: ready for the config
  kReady = 'r',    // worker: data loaded, ready for work
  kTrained = 't',  // worker: "1" or "0" (trained now or finished before), then its log line
  kRow = 'w',      // worker: the row's JSON line
  kError = 'e',    // worker: 'I' (InputError), 'M' (out of memory) or 'X' (other), then what()
  kConfig = 'c',   // coordinator: {"dir", "config", "cells", "models"}
  kTrain = 'T',    // coordinator: the index of the network to train, into SweepPlan::models()
  kCell = 'C',     // coordinator: the index of the cell to run, into SweepPlan::cells()
  kStop = 's',     // coordinator: no more work
};

struct Message {
  int source = 0;
  Kind kind = kStop;
  std::string text;
};

void send(int dest, int tag, Kind kind, const std::string& text = "") {
  std::string buf(1, kind);
  buf += text;
  MPI_Send(buf.data(), static_cast<int>(buf.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD);
}

// Waits for the next message with `tag` from `source` (MPI_ANY_SOURCE: anyone), probing and
// sleeping 1 ms between empty probes, so that a waiting rank does not spin a core (a blocking
// MPI_Recv polls without sleeping in Open MPI).
Message receive(int source, int tag) {
  MPI_Status status;
  for (;;) {
    int flag = 0;
    MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, &status);
    if (flag) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int count = 0;
  MPI_Get_count(&status, MPI_CHAR, &count);
  std::string buf(static_cast<size_t>(count), '\0');
  MPI_Recv(buf.data(), count, MPI_CHAR, status.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  if (buf.empty()) return {status.MPI_SOURCE, Kind{}, ""};  // answered as an unknown message
  return {status.MPI_SOURCE, static_cast<Kind>(buf[0]), buf.substr(1)};
}

// The current exception as an error message (kError's text), and back.
std::string error_text(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const InputError& x) {
    return std::string("I") + x.what();
  } catch (const std::bad_alloc&) {
    return "M";
  } catch (const std::exception& x) {
    return std::string("X") + x.what();
  } catch (...) {
    return "Xunknown exception";
  }
}

[[noreturn]] void throw_error_text(const std::string& text) {
  const std::string what = text.empty() ? "" : text.substr(1);
  if (!text.empty() && text[0] == 'I') throw InputError(what);
  if (!text.empty() && text[0] == 'M') throw std::bad_alloc();
  throw std::runtime_error(what);
}

// ------------------------------------------------------------------ the coordinator

class Coordinator {
 public:
  Coordinator(int workers, const experiment::SweepCallbacks& cb) : active_(workers), cb_(cb) {}

  // Plans the sweep (every check of a one-process run) and creates the directory; on failure
  // remembers the error, so that every worker is told to stop.
  void prepare(const std::function<experiment::SweepConfig()>& load, const std::string& dir,
               size_t max_cells) {
    try {
      plan_ = std::make_unique<SweepPlan>(load(), dir, cb_);
      if (plan_->check(max_cells) == 0) return;
      plan_->create();
      for (size_t m : plan_->todo_models()) models_.push_back(m);
      for (size_t c : plan_->todo()) cells_.push_back(c);
      nlohmann::json j = {{"dir", dir},
                          {"config", plan_->config().to_json()},
                          {"cells", plan_->cells().size()},
                          {"models", plan_->models().size()}};
      config_message_ = j.dump();
    } catch (...) {
      fail(std::current_exception());
    }
  }

  // Answers every worker until each has been told to stop.
  void serve() {
    while (active_ > 0) {
      const Message m = receive(MPI_ANY_SOURCE, kRequest);
      try {
        handle(m);
      } catch (...) {
        fail(std::current_exception());
        give_work(m.source);  // the worker waits for an answer: stop
      }
      if (!waiting_.empty() && (error_ || (models_.empty() && training_ == 0))) {
        std::vector<int> waiting;
        waiting.swap(waiting_);
        for (int w : waiting) give_work(w);
      }
    }
  }

  // After serve(): throws the first error (having undone a failed first run), or returns.
  experiment::SweepSummary finish() {
    if (error_) {
      if (plan_) plan_->abandon();
      std::rethrow_exception(error_);
    }
    return plan_->summary(trained_);
  }

 private:
  void handle(const Message& m) {
    switch (m.kind) {
      case kHello:
        if (error_ || config_message_.empty()) return give_work(m.source);
        return send(m.source, kJob, kConfig, config_message_);
      case kReady:
        return give_work(m.source);
      case kTrained:
        --training_;
        if (m.text.rfind("1", 0) == 0) ++trained_;
        if (m.text.size() > 1) plan_->log(m.text.substr(1));
        return give_work(m.source);
      case kRow:
        record(m);
        return give_work(m.source);
      case kError:
        fail_with(m.text);
        return give_work(m.source);
      default:
        throw InternalError("sweep: an unknown MPI message from rank " + std::to_string(m.source));
    }
  }

  // Appends a worker's row, checking it is the row of the cell it was given.
  void record(const Message& m) {
    const StudyRow row = experiment::row_from_json(
        io::parse_json(m.text, "a row from rank " + std::to_string(m.source)));
    const auto given = running_.find(m.source);
    if (given == running_.end() || plan_->cells()[given->second].key != row.key) {
      throw InternalError("sweep: rank " + std::to_string(m.source) +
                          " sent a row for a cell it was not given: " + row.key);
    }
    running_.erase(given);
    plan_->record(row);
  }

  // Sends `worker` its next job: a network to train, a cell once every network is trained, or
  // stop (after an error, or when nothing is left). A worker asking while the last networks are
  // still training waits.
  void give_work(int worker) {
    if (!error_ && !models_.empty()) {
      ++training_;
      send(worker, kJob, kTrain, std::to_string(models_.front()));
      models_.pop_front();
    } else if (!error_ && training_ > 0) {
      waiting_.push_back(worker);
    } else if (!error_ && !cells_.empty()) {
      if (!cells_started_) plan_->start_cells();
      cells_started_ = true;
      running_[worker] = cells_.front();
      send(worker, kJob, kCell, std::to_string(cells_.front()));
      cells_.pop_front();
    } else {
      send(worker, kJob, kStop);
      --active_;
    }
  }

  void fail(const std::exception_ptr& e) {
    if (!error_) error_ = e;
  }
  void fail_with(const std::string& text) {
    try {
      throw_error_text(text);
    } catch (...) {
      fail(std::current_exception());
    }
  }

  int active_;  // workers not yet told to stop
  const experiment::SweepCallbacks& cb_;
  std::unique_ptr<SweepPlan> plan_;
  std::string config_message_;  // empty: nothing to do (or the plan failed)
  std::deque<size_t> models_, cells_;
  size_t training_ = 0, trained_ = 0;
  bool cells_started_ = false;
  std::vector<int> waiting_;
  std::map<int, size_t> running_;  // worker -> the cell it runs
  std::exception_ptr error_;
};

// ------------------------------------------------------------------ the worker

// Sets up the worker's plan from the coordinator's config message and loads the data.
std::unique_ptr<SweepPlan> worker_plan(const std::string& text, std::string& log_line) {
  const nlohmann::json j = io::parse_json(text, "the sweep config from rank 0");
  const experiment::SweepConfig config =
      experiment::SweepConfig::from_json(j.at("config"), "the sweep config from rank 0");
  experiment::SweepCallbacks cb;
  cb.log = [&log_line](const std::string& line) { log_line = line; };
  auto plan = std::make_unique<SweepPlan>(config, j.at("dir").get<std::string>(), cb);
  if (plan->cells().size() != j.at("cells").get<size_t>() ||
      plan->models().size() != j.at("models").get<size_t>()) {
    throw InternalError("sweep: this rank plans another sweep than rank 0");
  }
  plan->load_data();
  return plan;
}

}  // namespace

MpiSession::MpiSession() {
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiSession::~MpiSession() {
  // The run is over (every row written, every worker stopped): all that is left is to exit.
  // When one rank exits non-zero (rank 0 with an error), mpirun sends SIGTERM to the others,
  // which may still be finalising; they ignore it instead of reporting a stop
  // (install_stop_handlers), so that the error's one line is all that is printed.
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, SIG_IGN);
  MPI_Finalize();
}

experiment::SweepSummary coordinate_sweep(const std::function<experiment::SweepConfig()>& load,
                                          const std::string& dir, size_t max_cells,
                                          const experiment::SweepCallbacks& callbacks) {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  Coordinator c(size - 1, callbacks);
  c.prepare(load, dir, max_cells);
  c.serve();
  return c.finish();
}

void work_on_sweep(int train_threads) {
  std::unique_ptr<SweepPlan> plan;
  std::string log_line;
  send(0, kRequest, kHello);
  for (;;) {
    const Message m = receive(0, kJob);
    if (m.kind == kStop) return;
    try {
      if (m.kind == kConfig) {
        plan = worker_plan(m.text, log_line);
        send(0, kRequest, kReady);
      } else if (m.kind == kTrain) {
        log_line.clear();
        const bool trained = plan->train_model(std::stoul(m.text), train_threads);
        send(0, kRequest, kTrained, (trained ? "1" : "0") + log_line);
      } else if (m.kind == kCell) {
        const StudyRow row = plan->run_cell(std::stoul(m.text));
        send(0, kRequest, kRow, experiment::row_to_json(row).dump());
      } else {
        throw InternalError("sweep: an unknown MPI message from rank 0");
      }
    } catch (...) {
      send(0, kRequest, kError, error_text(std::current_exception()));
    }
  }
}

}  // namespace gift::cli

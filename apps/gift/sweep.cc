// gift sweep / gift reproduce: the misspecification study, resumable, with a report.
#include "gift/experiment/sweep.h"

#include <cstdio>
#include <memory>

#include "common.h"
#include "gift/core/error.h"
#include "gift/data/dataset.h"
#include "gift/experiment/frontier.h"
#include "gift/io/atomic_file.h"
#include "gift/io/json.h"
#include "mpi_launch.h"
#ifdef GIFT_WITH_MPI
#include "sweep_mpi.h"
#endif

namespace gift::cli {
namespace {

struct SweepFlags {
  std::string study, out, dataset = "mnist", data_dir;
  int jobs = 0;
  size_t max_cells = 0;
  bool quick = false, no_figures = false;
};

// Prints the summary of a finished run; returns whether every cell is finished (then the report
// is written).
bool finish(const experiment::SweepSummary& s, const SweepFlags& f) {
  std::printf("sweep %s: %zu cells (%zu already done, %zu run now), %.0f s\n", f.out.c_str(),
              s.cells_total, s.cells_skipped, s.cells_run, s.seconds);
  if (s.cells_skipped + s.cells_run < s.cells_total) {
    std::printf("stopped early: run the same command again to resume\n");
    return false;
  }
  write_report(f.out, !f.no_figures);
  return true;
}

// Runs the sweep in this process; returns whether every cell is finished.
bool run(const experiment::SweepConfig& config, const SweepFlags& f) {
  Progress bar("sweep");
  const auto cb = cell_callbacks<experiment::SweepCallbacks>(bar);
  const experiment::SweepSummary s = experiment::run_sweep(config, f.out, f.jobs, cb, f.max_cells);
  bar.finish();
  return finish(s, f);
}

// The study file of `gift sweep`, read and checked.
experiment::SweepConfig read_study(const std::string& path) {
  // A sweep config is a few hundred bytes; 16 MiB is far beyond any real one.
  const nlohmann::json j =
      io::parse_json(io::read_file(path), path, io::kMaxJsonDepth, size_t{16} << 20);
  return experiment::SweepConfig::from_json(j, path);
}

// `gift sweep` started by an MPI launcher. With MPI (GIFT_WITH_MPI) and 2 or more ranks, rank 0
// coordinates and prints, the others work (sweep_mpi.h); with one rank, the one-process run.
// Without MPI, 2 or more ranks refuse (each would run the whole sweep on the same directory).
void run_launched(const SweepFlags& f) {
#ifdef GIFT_WITH_MPI
  MpiSession mpi;
  if (mpi.size() == 1) {
    run(read_study(f.study), f);
  } else if (mpi.rank() > 0) {
    work_on_sweep(f.jobs > 0 ? f.jobs : 1);
  } else {
    Progress bar("sweep");
    const auto cb = cell_callbacks<experiment::SweepCallbacks>(bar);
    const experiment::SweepSummary s =
        coordinate_sweep([&f] { return read_study(f.study); }, f.out, f.max_cells, cb);
    bar.finish();
    finish(s, f);
  }
#else
  if (launcher_size() > 1) {
    throw InputError("sweep: started as " + std::to_string(launcher_size()) +
                     " MPI ranks, but this gift was built without MPI (GIFT_MPI); run it as one "
                     "process");
  }
  run(read_study(f.study), f);
#endif
}

// The frontier of one case of a finished study, in <out>/frontier (resumable like the sweep):
// the first grid's network trained at its smallest assumed level on the device of its largest
// true level, the network trained at that level as the oracle (experiment::frontier_of_sweep).
void run_study_frontier(const experiment::SweepConfig& config, const SweepFlags& f) {
  const experiment::FrontierConfig fc =
      experiment::frontier_of_sweep(config, f.out, 0, config.seeds.front(), f.quick);
  const std::string dir = f.out + "/frontier";
  std::printf(
      "\ncost-recovery frontier: %s on a device at %s, oracle %s; %zu rungs x %zu methods "
      "x %zu seed(s), in %s\n",
      fc.checkpoint.c_str(), fc.device_noise.describe().c_str(), fc.oracle.c_str(),
      fc.ladder.size(), fc.methods.size(), fc.seeds.size(), dir.c_str());
  std::fflush(stdout);
  experiment::FrontierConfig run_config = fc;
  run_config.threads = f.jobs;
  Progress bar("frontier");
  const auto cb = cell_callbacks<experiment::FrontierCallbacks>(bar);
  const experiment::FrontierSummary s = experiment::run_frontier(run_config, dir, cb);
  bar.finish();
  std::printf("frontier %s: %zu cells (%zu already done, %zu run now), %.0f s\n", dir.c_str(),
              s.cells_total, s.cells_skipped, s.cells_run, s.seconds);
  write_frontier_report(dir, !f.no_figures);
}

}  // namespace

void add_sweep(CLI::App& app) {
  auto f = std::make_shared<SweepFlags>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "run a misspecification grid from a study file (resumable; mpirun -n N spreads it)");
  cmd->footer(
      std::string("Across processes or machines: mpirun -n N gift sweep ... Rank 0 coordinates and "
                  "writes results.jsonl; ranks 1..N-1 train the networks, then run the cells, one "
                  "at a time each. Rows are the same for any N. OUT and the data must be on a file "
                  "system every rank sees under the same path (docs/cluster.md). ") +
#ifdef GIFT_WITH_MPI
      "This gift is built with MPI.");
#else
      "This gift is built without MPI (CMake option GIFT_MPI, MPI not found or off).");
#endif
  // --study, not --config: gift's --config is the TOML/INI file of options (main.cc).
  cmd->add_option("--study", f->study, "the study to run: a JSON file (see docs/results.md)")
      ->required();
  cmd->add_option("--out", f->out, "sweep directory (results.jsonl, models/, tables, figures)")
      ->required();
  cmd->add_option("--jobs", f->jobs,
                  "cells run in parallel (0 = cores); results do not depend on it. Under mpirun "
                  "with 2+ ranks: the threads each rank trains a network with (0 = 1)");
  cmd->add_option("--max-cells", f->max_cells,
                  "stop after this many new cells (0 = all); resume later");
  cmd->add_flag("--no-figures", f->no_figures, "write tables only");
  cmd->callback([f] {
    if (launcher_rank() >= 0) return run_launched(*f);
    run(read_study(f->study), *f);
  });
}

void add_reproduce(CLI::App& app) {
  auto f = std::make_shared<SweepFlags>();
  CLI::App* cmd = app.add_subcommand(
      "reproduce",
      "the paper's experiment end to end: MNIST, the default five-layer network, then the "
      "cost-recovery frontier of one case (in OUT/frontier)");
  cmd->add_flag("--quick", f->quick,
                "reduced scale (150 s measured on two cores; a 3-rung frontier on 1 seed)");
  cmd->add_option("--dataset", f->dataset, data::dataset_list())
      ->check(CLI::IsMember(data::dataset_names()));
  cmd->add_option("--data-dir", f->data_dir,
                  "directory holding the IDX files (default data/<dataset>)");
  cmd->add_option("--out", f->out, "sweep directory (default out/reproduce-<dataset>[-quick])");
  cmd->add_option("--jobs", f->jobs, "cells run in parallel (0 = cores)");
  cmd->add_option("--max-cells", f->max_cells, "stop after this many new cells (0 = all)");
  cmd->add_flag("--no-figures", f->no_figures, "write tables only");
  cmd->callback([f] {
    if (launcher_size() > 1) {
      throw InputError("reproduce: runs as one process, not as " + std::to_string(launcher_size()) +
                       " MPI ranks; across machines, use gift sweep --study FILE (the config.json "
                       "a reproduce run writes is such a file)");
    }
    experiment::SweepConfig c = experiment::reproduce_preset(f->quick, f->dataset);
    c.data_dir = f->data_dir;
    if (f->out.empty()) f->out = "out/reproduce-" + f->dataset + (f->quick ? "-quick" : "");
    if (run(c, *f)) run_study_frontier(c, *f);
  });
}

}  // namespace gift::cli

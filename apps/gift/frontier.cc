// gift frontier: every method on one case over a ladder of budgets (the cost-recovery frontier),
// resumable, with a table and figures.
#include "gift/experiment/frontier.h"

#include <cmath>
#include <cstdio>
#include <memory>
#include <set>
#include <sstream>

#include "common.h"
#include "gift/core/error.h"
#include "gift/experiment/report.h"
#include "gift/insitu/methods.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"

namespace gift::cli {
namespace {

struct FrontierFlags {
  std::string checkpoint, oracle, out;
  std::string methods = "gift,hil,retrain";
  std::string ladder = experiment::ladder_text(experiment::default_ladder());
  std::string seeds = "1";
  DataFlags data;
  DeviceFlags device;
  experiment::FrontierConfig config;  // the numeric options bind to it directly
  FinetuneOptionFlags tuning;         // and the fine-tuning ones to config.finetune
  bool no_figures = false;
  CLI::App* app = nullptr;
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) items.push_back(item);
  if (!text.empty() && text.back() == ',') items.push_back("");
  return items;
}

std::vector<std::string> parse_methods(const std::string& text) {
  std::vector<std::string> methods;
  for (const std::string& m : split(text)) {
    const MethodInfo* info = find_method(m);
    if (info && info->baseline) {
      throw InputError("--method: " + m + " is not needed: the start (" + m +
                       ") is measured on every seed; give " + method_list(false));
    }
    try {
      make_method(m);
    } catch (const InputError& e) {
      throw InputError(std::string("--method: ") + e.what());
    }
    if (std::find(methods.begin(), methods.end(), m) != methods.end()) {
      throw InputError("--method: '" + m + "' is given twice");
    }
    methods.push_back(m);
  }
  if (methods.empty()) throw InputError("--method: no method given");
  return methods;
}

std::vector<uint64_t> parse_seeds(const std::string& text) {
  std::vector<uint64_t> seeds;
  for (const std::string& s : split(text)) {
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) {
      const std::string shown = text.size() <= 60 ? text : text.substr(0, 57) + "...";
      throw InputError("--seeds: expected non-negative integers separated by commas, found '" +
                       shown + "'");
    }
    const uint64_t v = std::stoull(s);
    if (std::find(seeds.begin(), seeds.end(), v) != seeds.end()) {
      throw InputError("--seeds: the seed " + s + " is given twice");
    }
    seeds.push_back(v);
  }
  if (seeds.empty()) throw InputError("--seeds: no seed given");
  if (seeds.size() > experiment::kMaxFrontierSeeds) {
    throw InputError("--seeds: more than " + std::to_string(experiment::kMaxFrontierSeeds) +
                     " seeds");
  }
  return seeds;
}

// One line per option that is out of range, naming the option (before any file or data is read).
void check_options(const FrontierFlags& f) {
  const FinetuneOptions& o = f.config.finetune;
  const auto at_least = [](const char* option, long long value, long long lo) {
    if (value < lo) {
      throw InputError(std::string(option) + " must be >= " + std::to_string(lo) + ", found " +
                       std::to_string(value));
    }
  };
  at_least("--epochs", o.epochs, 0);
  at_least("--retrain-epochs", o.retrain_epochs, 0);
  at_least("--batch-size", o.batch_size, 1);
  at_least("--score-repeats", o.score_repeats, 1);
  at_least("--checks", o.checks, 0);
  at_least("--calib-inputs", o.calibration.inputs, 2);
  at_least("--calib-repeats", o.calibration.repeats, 2);
  at_least("--eval-repeats", f.config.eval_repeats, 2);
  at_least("--calib-size", static_cast<long long>(std::min<size_t>(f.config.calib_size, 1LL << 62)),
           2);
  if (static_cast<size_t>(o.calibration.inputs) > f.config.calib_size) {
    throw InputError("--calib-inputs " + std::to_string(o.calibration.inputs) +
                     " is more than --calib-size " + std::to_string(f.config.calib_size));
  }
  const auto number = [](const char* option, double v, bool ok, const char* expected) {
    if (!ok || !std::isfinite(v)) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", v);
      throw InputError(std::string(option) + " must be " + expected + ", found " + buf);
    }
  };
  number("--lr", o.optimizer.lr, o.optimizer.lr > 0, "a number > 0");
  number("--holdout", o.holdout, o.holdout > 0 && o.holdout < 1, "in (0, 1)");
  number("--accept-z", o.accept_z, o.accept_z >= 0, "a number >= 0");
}

void run_frontier_cli(FrontierFlags& f) {
  if (!f.device.command.empty()) {
    throw InputError(
        "--device-command: gift frontier runs a fresh simulated device for every cell; use gift "
        "finetune with --budget-gradients and --budget-passes on an external device");
  }
  if (f.app->count("--device-timeout") > 0) {
    throw InputError("--device-timeout applies to an external device (--device-command)");
  }
  experiment::FrontierConfig& c = f.config;
  c.methods = parse_methods(f.methods);
  c.ladder = experiment::parse_ladder(f.ladder, "--ladder");
  c.seeds = parse_seeds(f.seeds);
  f.tuning.apply(c.finetune);
  check_options(f);
  io::prepare_output(f.out + "/frontier.jsonl");
  const io::Checkpoint start = io::load_checkpoint(f.checkpoint);
  const io::Checkpoint oracle = io::load_checkpoint(f.oracle);
  if (oracle.net.arch() != start.net.arch()) {
    throw InputError("--oracle: " + f.oracle + " is a " + oracle.net.arch().describe() +
                     " network, the checkpoint a " + start.net.arch().describe());
  }
  c.checkpoint = f.checkpoint;
  c.oracle = f.oracle;
  c.dataset = f.data.dataset.empty() ? start.dataset : f.data.dataset;
  c.data_dir = f.data.dir;
  c.train_limit = f.data.train_limit;
  c.test_limit = f.data.test_limit;
  c.device_noise = f.device.noise.build(start.net.num_layers(), "device");
  c.imperfections = f.device.imperfections.build();
  c.device_seed = f.device.seed;
  c.taps = !f.device.no_taps;
  c.validate();

  std::printf(
      "frontier of %s (trained at %s) on a device with true noise %s: %zu method(s) x "
      "%zu rung(s) x %zu seed(s), %zu cells with the start, in %s\n",
      f.checkpoint.c_str(), start.train.noise.describe().c_str(), c.device_noise.describe().c_str(),
      c.methods.size(), c.ladder.size(), c.seeds.size(), c.cells(), f.out.c_str());
  std::fflush(stdout);
  Progress bar("frontier");
  const auto cb = cell_callbacks<experiment::FrontierCallbacks>(bar);
  const experiment::FrontierSummary s = experiment::run_frontier(c, f.out, cb);
  bar.finish();
  std::printf("frontier %s: %zu cells (%zu already done, %zu run now), %.0f s\n", f.out.c_str(),
              s.cells_total, s.cells_skipped, s.cells_run, s.seconds);
  write_frontier_report(f.out, !f.no_figures);
}

}  // namespace

void write_frontier_report(const std::string& dir, bool figures) {
  // The table is the essential output; a machine without gnuplot still gets it.
  const bool plot = figures && experiment::gnuplot_available();
  const std::vector<std::string> written = experiment::write_frontier_report(dir, plot);
  std::fputs(io::read_file(dir + "/frontier.md").c_str(), stdout);
  for (const std::string& path : written) std::printf("wrote %s\n", path.c_str());
  std::fflush(stdout);
  if (figures && !plot) {
    std::fprintf(stderr,
                 "gift: warning: gnuplot not found: install Debian's gnuplot-nox; figures "
                 "skipped (--no-figures silences this)\n");
  }
}

void add_frontier(CLI::App& app) {
  auto f = std::make_shared<FrontierFlags>();
  CLI::App* cmd = app.add_subcommand(
      "frontier",
      "the cost-recovery frontier: every method on one case over a ladder of budgets "
      "(resumable; DIR/frontier.jsonl, frontier.md, frontier-*.{png,svg})");
  f->app = cmd;
  experiment::FrontierConfig& c = f->config;
  cmd->add_option("--checkpoint", f->checkpoint, "the start: a network trained in silico")
      ->required();
  cmd->add_option("--oracle", f->oracle, "a network trained at the device's true noise")
      ->required();
  cmd->add_option("--out", f->out,
                  "frontier directory (config.json, frontier.jsonl, frontier.md, figures); the "
                  "same command resumes it")
      ->required();
  cmd->add_option(
      "--method", f->methods,
      "methods, comma-separated: " + method_list(false) + " (the start is always measured)");
  cmd->add_option("--ladder", f->ladder,
                  "rungs GRADIENTS:PASSES, comma-separated: each method's per-sample gradient and "
                  "device pass budgets");
  cmd->add_option("--seeds", f->seeds,
                  "seeds, comma-separated (calibration images, calibration, method draws); "
                  "tables show means over them");
  f->data.add(*cmd);
  f->data.dataset.clear();
  f->device.add(*cmd);
  cmd->add_option("--calib-size", c.calib_size,
                  "the lab's labelled images, drawn from the test split (accuracies are measured "
                  "on the rest of it)");
  f->tuning.add(*cmd, c.finetune);
  cmd->add_option("--eval-repeats", c.eval_repeats,
                  "device passes over the test set for each accuracy");
  cmd->add_option("--threads", c.threads, "threads (0 = all cores); never changes a number");
  cmd->add_flag("--no-figures", f->no_figures, "write the table only (no gnuplot)");
  cmd->callback([f] { run_frontier_cli(*f); });
}

}  // namespace gift::cli

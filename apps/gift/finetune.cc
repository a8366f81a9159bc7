// gift finetune: in situ fine-tuning on a device, method by method, with a report.
#include "gift/insitu/finetune.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <utility>

#include "common.h"
#include "gift/core/error.h"
#include "gift/core/rng.h"
#include "gift/experiment/report.h"
#include "gift/insitu/calibration.h"
#include "gift/insitu/methods.h"
#include "gift/insitu/report_json.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"
#include "gift/io/json.h"
#include "gift/io/model_json.h"
#include "gift/train/loss.h"
#include "gift/train/trainer.h"

namespace gift::cli {
namespace {

struct FinetuneFlags {
  std::string checkpoint, methods = "gift", out, report, oracle;
  DataFlags data;
  DeviceFlags device;
  FinetuneOptions options;  // the bound options; their defaults are FinetuneOptions'
  FinetuneOptionFlags tuning;
  size_t calib_size = 1000;
  int eval_repeats = 5, threads = 0;
  uint64_t seed = 1;
  bool resume = false;
};

// Everything that decides a method's numbers, so that --resume never mixes results of
// different runs in one report.
nlohmann::json finetune_config(const FinetuneFlags& f) {
  const DeviceFlags& d = f.device;
  const FinetuneOptions& o = f.options;
  // The static errors as their one writer writes them (the keys added after gain_std and
  // weight_bits only when set, so an older run's config, which --resume compares, still matches).
  nlohmann::json device = io::imperfections_to_json(d.imperfections.build());
  device.update({{"noise", d.noise.stds},
                 {"output_clip", d.noise.output_clip},
                 {"seed", d.seed},
                 {"no_taps", d.no_taps},
                 {"command", d.command}});
  if (!d.noise.preset.empty()) device["noise_preset"] = d.noise.preset;  // only when set
  nlohmann::json config = {
      {"checkpoint", f.checkpoint},
      {"dataset", f.data.dataset},
      {"data_dir", f.data.dir},
      {"train_limit", f.data.train_limit},
      {"test_limit", f.data.test_limit},
      {"device", device},
      {"calib", {o.calibration.inputs, o.calibration.repeats, o.calibration.bootstrap}},
      {"calib_size", f.calib_size},
      {"epochs", o.epochs},
      {"retrain_epochs", o.retrain_epochs},
      {"batch_size", o.batch_size},
      {"score_repeats", o.score_repeats},
      {"eval_repeats", f.eval_repeats},
      {"lr", o.optimizer.lr},
      {"accept_z", o.accept_z},
      {"optimizer", f.tuning.optimizer},
      {"score", f.tuning.score_by},
      {"holdout", o.holdout},
      {"checks", o.checks},
      {"schedule", f.tuning.schedule},
      {"rescale", !f.tuning.no_rescale},
      {"fit_data", f.tuning.fit_data},
      {"budget_gradients", o.budget_gradients},
      {"budget_passes", o.budget_passes},
      {"oracle", f.oracle},
      {"seed", f.seed}};
  config.update(finetune_tunables_to_json(o));  // every tunable, defaults included
  return config;
}

// The methods already finished in the report at `path` (with --resume), keyed by name.
std::map<std::string, nlohmann::json> finished_methods(const std::string& path,
                                                       const nlohmann::json& config) {
  std::map<std::string, nlohmann::json> done;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return done;
  const nlohmann::json doc = io::parse_json(io::read_file(path), path);
  if (!doc.is_object() || !doc.contains("config") || !doc.contains("methods") ||
      !doc["methods"].is_array()) {
    throw InputError(path + ": not a gift finetune report; use another --report or drop --resume");
  }
  // A report made before the tunables were recorded ran them at their defaults.
  nlohmann::json stored = doc["config"];
  if (stored.is_object()) {
    const nlohmann::json defaults = finetune_tunables_to_json(FinetuneOptions{});
    for (auto it = defaults.begin(); it != defaults.end(); ++it) {
      if (!stored.contains(it.key())) stored[it.key()] = it.value();
    }
  }
  if (stored != config) {
    throw InputError(path +
                     ": made with other options or inputs; use another --report or drop --resume");
  }
  for (const nlohmann::json& m : doc["methods"]) {
    if (!m.is_object() || !m.contains("method") || !m["method"].is_string()) {
      throw InputError(path + ": a method entry without a name");
    }
    try {  // the fields a resumed method is printed from
      const bool ok = m.at("test_accuracy_after").get<std::vector<double>>().size() == 3 &&
                      m.at("relative_improvement").is_number() &&
                      m.at("device_passes").is_number_unsigned() &&
                      m.at("device_programmings").is_number_unsigned() &&
                      m.at("digital_seconds").is_number() && m.at("accepted").is_boolean();
      if (!ok) throw InputError("");
    } catch (const std::exception&) {
      throw InputError(path + ": the entry of method '" + m["method"].get<std::string>() +
                       "' is incomplete; use another --report or drop --resume");
    }
    done[m["method"].get<std::string>()] = m;
  }
  return done;
}

// The names of --method, each known and given once.
std::vector<std::string> parse_method_list(const std::string& text) {
  std::vector<std::string> methods;
  std::stringstream ss(text);
  std::string m;
  while (std::getline(ss, m, ',')) {
    make_method(m);  // validates the name
    if (std::find(methods.begin(), methods.end(), m) != methods.end()) {
      throw InputError("--method: '" + m + "' is given twice");
    }
    methods.push_back(m);
  }
  if (methods.empty()) throw InputError("--method: no method given");
  return methods;
}

// The options of every method of the run: the bound ones, the names parsed, the run's seed and
// threads, and the noise the checkpoint was trained under.
FinetuneOptions finetune_options(const FinetuneFlags& f, const io::Checkpoint& ckpt) {
  FinetuneOptions o = f.options;
  f.tuning.apply(o);
  o.assumed = ckpt.train.noise;
  o.calibration = calibration_options(o.calibration, f.seed, f.threads);
  o.seed = f.seed;
  o.threads = f.threads;
  o.validate(ckpt.net.arch());
  return o;
}

// One line of the results table from a method's report row.
void print_row(const nlohmann::json& j) {
  const std::vector<double> after = j.at("test_accuracy_after").get<std::vector<double>>();
  const nlohmann::json& rec = j.contains("recovery") ? j["recovery"] : nlohmann::json(nullptr);
  char rec_text[32] = "-";  // no oracle given, or the start within 1 point of it
  if (rec.is_number()) std::snprintf(rec_text, sizeof rec_text, "%.2f", rec.get<double>());
  std::printf("%-8s %8.2f%% [%6.2f, %6.2f] %+8.1f%% %9s %11llu %9llu %7.1fs %9s\n",
              j.at("method").get<std::string>().c_str(), 100 * after.at(0), 100 * after.at(1),
              100 * after.at(2), 100 * j.at("relative_improvement").get<double>(), rec_text,
              static_cast<unsigned long long>(j.at("device_passes").get<uint64_t>()),
              static_cast<unsigned long long>(j.at("device_programmings").get<uint64_t>()),
              j.at("digital_seconds").get<double>(), j.at("accepted").get<bool>() ? "yes" : "no");
  std::fflush(stdout);
}

// The start's line and the table's header.
void print_start(const FinetuneFlags& f, const io::Checkpoint& ckpt, const Device& device,
                 const DeviceAccuracy& before, double oracle_acc) {
  std::printf("%s (trained at %s) on %s\n", f.checkpoint.c_str(),
              ckpt.train.noise.describe().c_str(),
              describe_device(f.device, device, ckpt.net.num_layers()).c_str());
  std::printf("device test accuracy before: %.2f%% [%.2f, %.2f]", 100 * before.mean,
              100 * before.low, 100 * before.high);
  if (oracle_acc >= 0) {
    std::printf("; oracle: %.2f%% (recovery \"-\": the start within 1 point of it)",
                100 * oracle_acc);
  } else {
    std::printf(" (recovery \"-\": no --oracle given)");
  }
  std::printf("\n%-8s %9s %18s %9s %9s %11s %9s %8s %9s\n", "method", "accuracy", "95% interval",
              "rel.impr", "recovery", "dev.passes", "programs", "digital", "accepted");
}

// A method's report row: its FinetuneReport with the held-out test accuracies around it.
nlohmann::json method_row(const FinetuneReport& r, const DeviceAccuracy& before,
                          const DeviceAccuracy& after, double oracle_acc) {
  nlohmann::json j = finetune_report_to_json(r);
  j["test_accuracy_before"] = {before.mean, before.low, before.high};
  j["test_accuracy_after"] = {after.mean, after.low, after.high};
  j["relative_improvement"] = (after.mean - before.mean) / before.mean;
  if (oracle_acc >= 0) {
    const std::optional<double> rec = experiment::recovery_of(before.mean, after.mean, oracle_acc);
    j["oracle_accuracy"] = oracle_acc;
    j["recovery"] = rec ? nlohmann::json(*rec) : nlohmann::json(nullptr);
  }
  return j;
}

// Writes the fine-tuned network to `out_path`, then the report (write_report); a new checkpoint
// is removed again if its report cannot be written (no checkpoint without its report).
template <class WriteReport>
void save_finetuned(const std::string& out_path, const io::Checkpoint& ckpt, const Network& net,
                    const nlohmann::json& row, WriteReport write_report) {
  io::Checkpoint out = ckpt;
  out.net = net;
  out.state = TrainState{};
  out.extra["finetune"] = row.dump();
  struct stat st;
  const bool existed = ::stat(out_path.c_str(), &st) == 0;
  io::save_checkpoint(out_path, out);
  try {
    write_report();
  } catch (...) {
    if (!existed) ::unlink(out_path.c_str());
    throw;
  }
  std::printf("wrote %s\n", out_path.c_str());
}

// The lab split of the test set by --calib-size and --seed (the test set itself then freed),
// the training and test sets checked against the network first.
LabSplit load_lab(const FinetuneFlags& f, const Architecture& arch, const data::Dataset& train) {
  const data::Dataset test = f.data.load(data::Split::kTest);
  check_labelled_data(arch, train.images, train.labels, "training set");
  check_labelled_data(arch, test.images, test.labels, "test set");
  try {
    return lab_split(test, f.calib_size, f.seed);
  } catch (const InputError& e) {
    throw InputError(std::string("--calib-size: ") + e.what());
  }
}

void run_finetune(FinetuneFlags& f) {
  if (!f.out.empty()) io::prepare_output(f.out);
  if (!f.report.empty()) io::prepare_output(f.report);
  if (f.resume && f.report.empty())
    throw InputError("--resume needs --report (where finished methods are kept)");
  if (f.eval_repeats < 1)
    throw InputError("--eval-repeats must be >= 1, found " + std::to_string(f.eval_repeats));
  const io::Checkpoint ckpt = io::load_checkpoint(f.checkpoint);
  const std::vector<std::string> methods = parse_method_list(f.methods);
  if (!f.out.empty() && methods.size() != 1) {
    throw InputError("--out needs exactly one --method (found " + std::to_string(methods.size()) +
                     ")");
  }
  if (f.data.dataset.empty()) f.data.dataset = ckpt.dataset;
  const nlohmann::json config = finetune_config(f);
  std::map<std::string, nlohmann::json> done;
  if (f.resume) done = finished_methods(f.report, config);
  if (!done.empty()) {
    std::printf("resuming: %zu method(s) already finished in %s\n", done.size(), f.report.c_str());
  }
  const io::Checkpoint oracle_ckpt =
      f.oracle.empty() ? io::Checkpoint{} : io::load_checkpoint(f.oracle);
  if (!f.oracle.empty() && oracle_ckpt.net.arch() != ckpt.net.arch()) {
    throw InputError("--oracle: " + f.oracle + " is a " + oracle_ckpt.net.arch().describe() +
                     " network, the checkpoint a " + ckpt.net.arch().describe());
  }
  const data::Dataset train_set = f.data.load(data::Split::kTrain);
  const LabSplit lab = load_lab(f, ckpt.net.arch(), train_set);
  const data::Dataset& calib = lab.calib;
  const data::Dataset& test_set = lab.eval;
  f.device.threads = f.threads;
  const FinetuneOptions o = finetune_options(f, ckpt);

  // Every network is judged on a fresh connection to the chip. A simulated chip (or a server
  // that simulates one) starts its draws again: the same static errors and the same draws for
  // every network (common random numbers), so a network that did not change reads the same
  // before and after, and a difference is paired pass by pass. A real chip's draws are what
  // they are.
  std::unique_ptr<Device> probe = f.device.make(ckpt.net.arch());
  const DeviceAccuracy before = device_accuracy(*probe, ckpt.net, test_set, f.eval_repeats);
  double oracle_acc = -1;
  if (!f.oracle.empty()) {
    probe = f.device.make(ckpt.net.arch());
    oracle_acc = device_accuracy(*probe, oracle_ckpt.net, test_set, f.eval_repeats).mean;
  }
  print_start(f, ckpt, *probe, before, oracle_acc);
  nlohmann::json all = nlohmann::json::array();
  // The report holds every method finished so far, rewritten (atomically) after each one,
  // so a run stopped between methods keeps what it finished; --resume continues it.
  const auto write_report = [&] {
    if (f.report.empty()) return;
    const nlohmann::json doc = {{"checkpoint", f.checkpoint}, {"dataset", f.data.dataset},
                                {"calib_size", f.calib_size}, {"seed", f.seed},
                                {"config", config},           {"methods", all}};
    io::write_file_atomic(f.report, doc.dump(2) + "\n");
  };
  for (const std::string& name : methods) {
    struct stat out_st;
    if (done.count(name) && (f.out.empty() || ::stat(f.out.c_str(), &out_st) == 0)) {
      all.push_back(done[name]);
      print_row(done[name]);  // finished by an earlier run (--resume)
      continue;
    }
    Network net = ckpt.net;
    std::unique_ptr<Device> device = f.device.make(ckpt.net.arch());
    const FinetuneReport r = make_method(name)->run(net, *device, calib, train_set, o);
    device = f.device.make(ckpt.net.arch());  // the draws `before` had
    const DeviceAccuracy after = device_accuracy(*device, net, test_set, f.eval_repeats);
    const nlohmann::json j = method_row(r, before, after, oracle_acc);
    print_row(j);
    all.push_back(j);
    if (!f.out.empty()) {
      save_finetuned(f.out, ckpt, net, j, write_report);
    } else {
      write_report();
    }
  }
  if (!f.report.empty()) std::printf("wrote %s\n", f.report.c_str());
}

}  // namespace

void add_finetune(CLI::App& app) {
  auto f = std::make_shared<FinetuneFlags>();
  CLI::App* cmd = app.add_subcommand("finetune", "fine-tune a trained network in situ on a device");
  cmd->add_option("--checkpoint", f->checkpoint, "the network trained in silico")->required();
  cmd->add_option("--method", f->methods,
                  method_list() + " (a comma-separated list runs each from the same start)");
  f->data.add(*cmd);
  f->data.dataset.clear();
  f->device.add(*cmd);
  f->tuning.add(*cmd, f->options);
  add_calib_bootstrap(*cmd, f->options.calibration);
  cmd->add_option("--calib-size", f->calib_size,
                  "the lab's labelled images, drawn from the test split (accuracies are measured "
                  "on the rest of it)");
  cmd->add_option("--budget-gradients", f->options.budget_gradients,
                  "per-sample gradients a method may spend (0 = no budget)");
  cmd->add_option("--budget-passes", f->options.budget_passes,
                  "device passes a method may spend, calibration and scoring included (0 = no "
                  "budget)");
  cmd->add_option("--eval-repeats", f->eval_repeats,
                  "device passes over the test set for the accuracy");
  cmd->add_option("--oracle", f->oracle, "checkpoint trained at the true noise, for the recovery");
  cmd->add_option("--seed", f->seed, "seed of the calibration set, calibration and fine-tuning");
  cmd->add_option("--threads", f->threads, "threads (0 = all cores)");
  cmd->add_option("--out", f->out, "write the fine-tuned checkpoint here (one method)");
  cmd->add_option("--report", f->report, "write the JSON report here (after every method)");
  cmd->add_flag("--resume", f->resume,
                "keep the methods already finished in --report (same options) and run the rest");
  cmd->callback([f] { run_finetune(*f); });
}

}  // namespace gift::cli

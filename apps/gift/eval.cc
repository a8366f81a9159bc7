// gift eval: accuracy of a checkpoint under noise (Monte-Carlo), as a table.
#include <cstdio>
#include <memory>
#include <sstream>

#include "common.h"
#include "gift/core/error.h"
#include "gift/core/parse.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"
#include "gift/io/model_json.h"
#include "gift/onn/imperfections.h"
#include "gift/train/evaluate.h"
#include "gift/train/loss.h"

namespace gift::cli {
namespace {

struct EvalFlags {
  DataFlags data;
  NoiseFlags noise;
  bool noise_given = false;
  bool clip_given = false;  // --output-clip: the chip's saturation in every row
  bool site_given = false, device_seed_given = false;
  std::string checkpoint;
  std::string site = "sum_add";
  std::string levels;
  int repeats = 10, threads = 0;
  uint64_t seed = 1, device_seed = 1;
  ImperfectionFlags imperfections;
  std::string json_out;
};

// Each row: its label, its noise, and the option that asked for it (named in its errors).
struct EvalRow {
  std::string label;
  NoiseModel noise;
  std::string option;
};

// The rows `gift eval` prints: noiseless, the checkpoint's training noise, the --noise-* options
// and each of --levels.
std::vector<EvalRow> eval_rows(const EvalFlags& f, const io::Checkpoint& ckpt, size_t L) {
  std::vector<EvalRow> rows;
  // --output-clip is the chip's saturation: given, it applies to every row; otherwise the
  // noiseless row has none and the trained and --levels rows the trained one.
  const NoiseModel given = f.noise.build(L, "");
  const auto clipped = [&](NoiseModel m) {
    if (f.clip_given) m.output_clip = given.output_clip;
    return m;
  };
  const NoiseModel clean_noise = clipped(NoiseModel::none(L));
  rows.push_back(
      {clean_noise.output_clip != 0 ? "noiseless, " + clean_noise.describe() : "noiseless",
       clean_noise, f.clip_given ? "--output-clip" : ""});
  if (ckpt.train.noise.any()) {
    const NoiseModel m = clipped(ckpt.train.noise);
    rows.push_back({"trained: " + m.describe(), m, "the checkpoint's training noise"});
  }
  if (f.noise_given) rows.push_back({"given: " + given.describe(), given, "the --noise-* options"});
  if (!f.levels.empty()) {
    const NoiseSite site = parse_noise_site(f.site);
    for (double level : parse_number_list(f.levels, "--levels")) {
      NoiseModel m = NoiseModel::uniform(L, site, level);
      m.output_clip = f.clip_given ? given.output_clip : ckpt.train.noise.output_clip;
      std::ostringstream os;
      os << "--levels " << level;
      rows.push_back({m.describe(), m, os.str()});
    }
  }
  return rows;
}

void run_eval(EvalFlags& f) {
  if (f.repeats < 1) throw InputError("--repeats must be >= 1, found " + std::to_string(f.repeats));
  if (f.site_given && f.levels.empty()) {
    throw InputError("--site names the site of --levels; give --levels too");
  }
  if (f.device_seed_given && !f.imperfections.build().any()) {
    throw InputError(
        "--device-seed seeds the device's static errors, and none is given (--gain-std, "
        "--weight-bits, --row-gain-std, --col-gain-std, --crosstalk)");
  }
  if (!f.json_out.empty()) io::prepare_output(f.json_out);
  const io::Checkpoint ckpt = io::load_checkpoint(f.checkpoint);
  const size_t L = ckpt.net.num_layers();
  const Imperfections imp = f.imperfections.build();
  const Network device = apply_imperfections(ckpt.net, imp, f.device_seed);
  if (f.data.dataset.empty()) f.data.dataset = ckpt.dataset;
  const data::Dataset test = f.data.load(data::Split::kTest);
  // Checked once, as evaluate would for every row: an error of the data names no row.
  check_labelled_data(device.arch(), test.images, test.labels, "evaluation set");

  const std::vector<EvalRow> rows = eval_rows(f, ckpt, L);
  std::printf("%s: %s, trained at %s, %s test set (%zu images), %d draws%s\n", f.checkpoint.c_str(),
              ckpt.net.arch().describe().c_str(), ckpt.train.noise.describe().c_str(),
              f.data.dataset.c_str(), test.size(), f.repeats,
              imp.any() ? ", with static imperfections" : "");
  std::printf("%-36s %9s  %-20s %9s\n", "evaluation noise", "accuracy", "95% interval", "vs clean");
  nlohmann::json out = nlohmann::json::array();
  double clean = 0;
  Progress bar("eval");
  for (size_t i = 0; i < rows.size(); ++i) {
    bar.update(i, rows.size());
    EvalOptions o;
    o.noise = rows[i].noise;
    o.repeats = f.repeats;
    o.seed = f.seed;
    o.threads = f.threads;
    EvalResult r;
    try {
      r = evaluate(device, test.images, test.labels, o);
    } catch (const InputError& e) {
      bar.finish();
      const std::string& by = rows[i].option;
      throw InputError("row '" + rows[i].label + "'" + (by.empty() ? "" : " (" + by + ")") + ": " +
                       e.what());
    }
    if (i == 0) clean = r.mean;
    bar.finish();
    std::printf("%-36s %8.2f%%  [%6.2f, %6.2f]     %+8.2f\n", rows[i].label.c_str(), 100 * r.mean,
                100 * r.low, 100 * r.high, 100 * (r.mean - clean));
    std::fflush(stdout);
    out.push_back({{"noise", io::noise_to_json(rows[i].noise)},
                   {"label", rows[i].label},
                   {"accuracy", r.mean},
                   {"ci95", {r.low, r.high}},
                   {"stddev", r.stddev},
                   {"loss", r.loss},
                   {"draws", r.accuracies.size()}});
  }
  if (!f.json_out.empty()) {
    nlohmann::json doc = {{"checkpoint", f.checkpoint},
                          {"dataset", f.data.dataset},
                          {"test_images", test.size()},
                          {"imperfections", io::imperfections_to_json(imp)},
                          {"device_seed", f.device_seed},
                          {"seed", f.seed},
                          {"rows", out}};
    io::write_file_atomic(f.json_out, doc.dump(2) + "\n");
    std::printf("wrote %s\n", f.json_out.c_str());
  }
}

}  // namespace

void add_eval(CLI::App& app) {
  auto f = std::make_shared<EvalFlags>();
  CLI::App* cmd = app.add_subcommand("eval", "test accuracy of a checkpoint under noise");
  cmd->add_option("--checkpoint", f->checkpoint, "checkpoint written by gift train")->required();
  f->data.add(*cmd);
  f->data.dataset.clear();  // default: the checkpoint's data set
  f->noise.add(*cmd, "", "an extra evaluation noise");
  cmd->get_option("--output-clip")
      ->description(
          "output saturation of the chip: clip every layer's output to +-C in every row "
          "(noiseless, trained, given, --levels); default: the trained clip in the trained and "
          "--levels rows, none in the others");
  cmd->add_option("--site", f->site,
                  "noise site for --levels (only with --levels): " + noise_site_names());
  cmd->add_option("--levels", f->levels, "evaluate at each of these stds of --site on every layer");
  cmd->add_option("--repeats", f->repeats, "Monte-Carlo noise draws per row");
  cmd->add_option("--seed", f->seed, "seed of the evaluation noise");
  cmd->add_option("--threads", f->threads, "threads (0 = all cores)");
  f->imperfections.add(*cmd, "the device's ");
  cmd->add_option("--device-seed", f->device_seed,
                  "seed of the device's static errors (only with one of them)");
  cmd->add_option("--json", f->json_out, "also write the table as JSON to this file");
  cmd->callback([f, cmd] {
    const std::vector<std::string> names = NoiseFlags::option_names("");
    for (size_t i = 0; i < kNumNoiseSites; ++i) {  // the sites' options, not --output-clip
      if (cmd->count(names[i]) > 0) f->noise_given = true;
    }
    if (!f->noise.preset.empty()) f->noise_given = true;
    f->clip_given = cmd->count(names.back()) > 0;
    f->site_given = cmd->count("--site") > 0;
    f->device_seed_given = cmd->count("--device-seed") > 0;
    run_eval(*f);
  });
}

}  // namespace gift::cli

#include "common.h"

#include <unistd.h>

#include <cstdio>

#include "gift/core/error.h"
#include "gift/core/parse.h"

namespace gift::cli {

void NoiseFlags::add(CLI::App& app, const std::string& prefix, const std::string& role) {
  const std::vector<std::string> names = option_names(prefix);
  const std::string per =
      " (" + role + "; one std for every layer, or a comma-separated list, one per layer)";
  for (const NoiseSiteInfo& site : noise_sites()) {
    const int s = site_index(site.site);
    app.add_option(names[s], stds[s], site.flag_help + per);
  }
  app.add_option(names.back(), output_clip,
                 "output saturation: clip every layer's output to +-C (0 = none)");
  app.add_option((prefix.empty() ? "--noise-preset" : "--" + prefix + "-noise-preset"), preset,
                 "a named noise mix of a hardware class (" + noise_preset_names() +
                     "; docs/model.md) as the base: every site option other than 0 replaces "
                     "its value");
}

std::vector<std::string> NoiseFlags::option_names(const std::string& prefix) {
  const std::string p = prefix.empty() ? "--noise-" : "--" + prefix + "-noise-";
  std::vector<std::string> names;
  for (const NoiseSiteInfo& site : noise_sites()) names.push_back(p + site.flag);
  names.push_back("--" + (prefix.empty() ? std::string() : prefix + "-") + "output-clip");
  return names;
}

NoiseModel NoiseFlags::build(size_t num_layers, const std::string& prefix) const {
  const std::vector<std::string> names = option_names(prefix);
  NoiseModel m = preset.empty() ? NoiseModel::none(num_layers) : noise_preset(preset, num_layers);
  for (const NoiseSiteInfo& site : noise_sites()) {
    const int s = site_index(site.site);
    const std::vector<double> v = parse_per_layer(stds[s], num_layers, names[s]);
    for (size_t l = 0; l < num_layers; ++l) {
      if (preset.empty() || v[l] != 0) m.layers[l].*site.member = v[l];
    }
  }
  m.output_clip = output_clip;
  m.validate(num_layers, "noise options");
  return m;
}

void ImperfectionFlags::add(CLI::App& app, const std::string& whose) {
  const std::vector<std::string> n = option_names();
  app.add_option(n[0], gain_std,
                 whose + "static gain error of each weight: relative std (0.01 = 1%)");
  app.add_option(n[1], weight_bits, whose + "weight DAC resolution in bits (0 = continuous)");
  app.add_option(n[2], row_gain_std,
                 whose +
                     "static gain error of each output row (detector/receiver gain), shared "
                     "by the row's weights: relative std");
  app.add_option(n[3], col_gain_std,
                 whose +
                     "static gain error of each input column (modulator/laser power), "
                     "shared by the column's weights: relative std");
  app.add_option(n[4], crosstalk,
                 whose +
                     "nearest-neighbour thermal crosstalk kappa on the weight array: each "
                     "weight gains kappa x its 4 neighbours (dimensionless, in [0, 0.5))");
  app.add_option(n[5], dac,
                 whose +
                     "full scale of the weight DAC: 'layer' (2^B levels over the layer's "
                     "largest |weight|) or 'fixed' (2^B - 1 levels over [-w_max, w_max], "
                     "0 a level)");
}

std::vector<std::string> ImperfectionFlags::option_names() {
  return {"--gain-std",     "--weight-bits", "--row-gain-std",
          "--col-gain-std", "--crosstalk",   "--dac"};
}

Imperfections ImperfectionFlags::build() const {
  Imperfections imp;
  imp.gain_std = gain_std;
  imp.weight_bits = weight_bits;
  imp.row_gain_std = row_gain_std;
  imp.col_gain_std = col_gain_std;
  imp.crosstalk = crosstalk;
  try {
    imp.dac = parse_dac_scale(dac);
  } catch (const InputError& e) {
    throw InputError(std::string("--dac: ") + e.what());
  }
  imp.validate("device static errors");
  return imp;
}

void DataFlags::add(CLI::App& app) {
  app.add_option("--dataset", dataset, "data set: " + data::dataset_list())
      ->check(CLI::IsMember(data::dataset_names()));
  app.add_option("--data-dir", dir, "directory holding the IDX files (default data/<dataset>)");
  app.add_option("--train-limit", train_limit,
                 "use only the first N training images, decoding only those (0 = all)");
  app.add_option("--test-limit", test_limit,
                 "use only the first N test images, decoding only those (0 = all)");
}

data::Dataset DataFlags::load(data::Split split) const {
  const size_t limit = split == data::Split::kTrain ? train_limit : test_limit;
  // The limit is applied while reading: only the first `limit` rows are decoded.
  return data::load_dataset(dataset, dir.empty() ? data::default_data_dir(dataset) : dir, split,
                            limit);
}

Progress::Progress(std::string label)
    : label_(std::move(label)),
      enabled_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void Progress::update(size_t done, size_t total, const std::string& extra) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
  const int width = 30, filled = static_cast<int>(frac * width);
  std::fprintf(stderr, "\r%s [%s%s] %3.0f%% %s eta %.0fs  ", label_.c_str(),
               std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(width - filled), ' ').c_str(), 100 * frac,
               extra.c_str(), eta);
  std::fflush(stderr);
}

void Progress::finish() {
  if (enabled_) std::fprintf(stderr, "\r\033[K");
}

namespace {

// f(), with an InputError's message prefixed by `option`.
template <class F>
auto for_option(const char* option, F f) {
  try {
    return f();
  } catch (const InputError& e) {
    throw InputError(std::string(option) + ": " + e.what());
  }
}

}  // namespace

void FinetuneOptionFlags::add(CLI::App& app, FinetuneOptions& o) {
  optimizer = to_string(o.optimizer.kind);
  schedule = to_string(o.schedule);
  score_by = to_string(o.score_by);
  fit_data = to_string(o.fit_data);
  no_rescale = !o.rescale;
  app_ = &app;
  app.add_option("--calib-inputs", o.calibration.inputs, "calibration: distinct inputs K");
  app.add_option("--calib-repeats", o.calibration.repeats, "calibration: passes R of each input");
  add_calib_sites(app, calib_sites);
  add_calib_tunables(app, o.calibration);
  app.add_option("--fit-data", fit_data,
                 "images to fit: train (the training set less the scoring hold-out) or calib "
                 "(the calibration set less the hold-out); retrain always fits train");
  app.add_option("--schedule", schedule,
                 "learning rate over the planned steps: cosine or constant (retrain: cosine)");
  app.add_flag("--no-rescale", no_rescale, "gift: skip the structured rescaling first step");
  app.add_option("--rescale-points", o.rescale_points,
                 "gift's rescale step: the fractions 1/N, 2/N, ..., 1 of the way to the weight "
                 "range tried (log scale)");
  app.add_option("--rescale-repeats", o.rescale_repeats,
                 "gift's rescale step: twin draws per image and candidate");
  app.add_option("--rescale-images", o.rescale_images,
                 "gift's rescale step: at most this many fitted images judge the candidates");
  app.add_option("--rescale-threshold", o.rescale_threshold,
                 "gift's rescale step: a scale is taken only if it beats the start by more than "
                 "this many standard errors");
  app.add_option("--checks", o.checks,
                 "device scores along the way (fewer if passes run short); 2 or more split the "
                 "scoring images: half choose the best check, the other half confirm it");
  app.add_option("--epochs", o.epochs,
                 "epochs over the images fitted (gift, diff, hil), unless a budget ends it");
  app.add_option("--retrain-epochs", o.retrain_epochs,
                 "retrain: epochs over the training set, unless a budget ends it");
  app.add_option("--batch-size", o.batch_size, "mini-batch size");
  app.add_option("--optimizer", optimizer, "adam or sgd");
  app.add_option("--lr", o.optimizer.lr, "learning rate");
  app.add_option("--score-repeats", o.score_repeats, "device passes per held-out image per score");
  app.add_option("--holdout", o.holdout,
                 "with --fit-data calib: the fraction of the calibration set held out for "
                 "scoring (with train, every calibration image scores)");
  app.add_option("--score", score_by,
                 "device criterion for the best check and acceptance: accuracy or loss");
  app.add_option("--accept-z", o.accept_z,
                 "the acceptance test's one-sided level is 1 - Phi(Z): an exact sign test "
                 "(accuracy) or t test (loss) on the confirmation images");
}

void FinetuneOptionFlags::apply(FinetuneOptions& o) const {
  o.optimizer.kind = for_option("--optimizer", [&] { return parse_optimizer(optimizer); });
  o.schedule = for_option("--schedule", [&] { return parse_lr_schedule(schedule); });
  o.score_by = for_option("--score", [&] { return parse_score_by(score_by); });
  o.fit_data = for_option("--fit-data", [&] { return parse_fit_data(fit_data); });
  o.rescale = !no_rescale;
  apply_calib_sites(calib_sites, o.calibration);
  if (app_ && app_->count("--holdout") > 0 && o.fit_data == FitData::kTraining) {
    throw InputError(
        "--holdout applies with --fit-data calib (with --fit-data train, every calibration "
        "image scores)");
  }
}

void add_calib_sites(CLI::App& app, std::string& text) {
  app.add_option("--calib-sites", text,
                 "calibration: the per-pass sites the fit may find, comma-separated (default "
                 "weight,sum_mult,sum_add,out_add,in_add,drift; add shot, rin or weight_add where "
                 "expected: docs/method.md says what each costs)");
}

void add_calib_tunables(CLI::App& app, CalibrationOptions& o) {
  app.add_option("--calib-irls-floor", o.irls_floor,
                 "calibration (taps): the variance fit's weights floor, times the mean sample "
                 "variance");
  app.add_option("--calib-irls-iterations", o.irls_iterations,
                 "calibration (taps): at most this many reweightings of the variance fit");
  app.add_option("--calib-output-min-scale", o.output_min_scale,
                 "calibration (no taps): the smallest scale of the noise pattern searched");
  app.add_option("--calib-output-points-per-decade", o.output_points_per_decade,
                 "calibration (no taps): scales searched per decade");
  app.add_option("--calib-output-max-scale", o.output_max_scale,
                 "calibration (no taps): the largest scale searched; beyond it calibration "
                 "refuses");
}

void apply_calib_sites(const std::string& text, CalibrationOptions& o) {
  if (text.empty()) return;
  o.sites.clear();
  std::string item;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ',') {
      o.sites.push_back(for_option("--calib-sites", [&] { return parse_noise_site(item); }));
      item.clear();
    } else {
      item += text[i];
    }
  }
  for_option("--calib-sites", [&] {
    o.validate();
    return 0;
  });
}

// The device as a reader should know it: a simulated one by its true noise and static errors,
// an external one by its command and what it says it is (its true noise is not ours to know).
std::string describe_device(const DeviceFlags& d, const Device& device, int layers) {
  if (!d.command.empty()) {
    const std::string name = device.info().name;
    return "the external device '" + d.command + "'" +
           (name.empty() ? std::string() : " (it says: " + name + ")");
  }
  return "a simulated device with true noise " + d.noise.build(layers, "device").describe() +
         (d.imperfections.build().any() ? " and static errors" : "");
}

// --calib-bootstrap, bound to `o` (CalibrationOptions' default).
void add_calib_bootstrap(CLI::App& app, CalibrationOptions& o) {
  app.add_option("--calib-bootstrap", o.bootstrap,
                 "calibration: bootstrap resamples for intervals");
}

// `o` with the run's seed and threads, validated.
CalibrationOptions calibration_options(CalibrationOptions o, uint64_t seed, int threads) {
  o.seed = seed;
  o.threads = threads;
  o.validate();
  return o;
}

}  // namespace gift::cli

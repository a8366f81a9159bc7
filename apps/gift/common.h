// Option groups and terminal helpers shared by the subcommands of the gift CLI.
#pragma once

#include <CLI/CLI.hpp>
#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "gift/data/dataset.h"
#include "gift/onn/imperfections.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"

namespace gift::cli {

// --noise-<flag> for every site of noise_sites() (--noise-weight, --noise-sum-mult,
// --noise-sum-add, --noise-out-add; each a std or one per layer), --output-clip. With a
// prefix (e.g. "device"): --device-noise-<flag>, --device-output-clip.
struct NoiseFlags {
  std::array<std::string, kNumNoiseSites> stds = filled("0");  // by site_index
  double output_clip = 0;
  std::string preset;  // --noise-preset: the base mix (onn/noise.h); site options other than 0
                       // replace its value
  void add(CLI::App& app, const std::string& prefix, const std::string& role);
  NoiseModel build(size_t num_layers, const std::string& prefix) const;
  // The option names add() declares for `prefix`, the sites' then output-clip.
  static std::vector<std::string> option_names(const std::string& prefix);

 private:
  static std::array<std::string, kNumNoiseSites> filled(const std::string& v) {
    std::array<std::string, kNumNoiseSites> a;
    a.fill(v);
    return a;
  }
};

// A simulated chip's static errors (Imperfections, onn/imperfections.h), one registration for
// every subcommand that simulates one: --gain-std, --weight-bits, --row-gain-std,
// --col-gain-std, --crosstalk, --dac.
struct ImperfectionFlags {
  double gain_std = 0, row_gain_std = 0, col_gain_std = 0, crosstalk = 0;
  int weight_bits = 0;
  std::string dac = "layer";
  // `whose` starts each help text, e.g. "device: " or "the chip's ".
  void add(CLI::App& app, const std::string& whose);
  // The value, --dac parsed and validated (InputError naming the option or field otherwise).
  Imperfections build() const;
  static std::vector<std::string> option_names();
};

// --dataset, --data-dir, --train-limit, --test-limit.
struct DataFlags {
  std::string dataset = "mnist";
  std::string dir;                         // default data/<dataset>
  size_t train_limit = 0, test_limit = 0;  // 0 = all
  void add(CLI::App& app);
  data::Dataset load(data::Split split) const;
};

// A one-line progress bar on stderr, shown only when stderr is a terminal.
class Progress {
 public:
  explicit Progress(std::string label);
  void update(size_t done, size_t total, const std::string& extra = "");
  void finish();

 private:
  std::string label_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_;
};

// The callbacks of a run made of cells (a sweep, a frontier) on the terminal: each log line
// ends the progress bar; progress shows "done/total cells, N s left".
template <class Callbacks>
Callbacks cell_callbacks(Progress& bar) {
  Callbacks cb;
  cb.log = [&bar](const std::string& line) {
    bar.finish();
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  cb.progress = [&bar](size_t done, size_t total, double eta) {
    char extra[64];
    std::snprintf(extra, sizeof extra, "%zu/%zu cells, %.0f s left", done, total, eta);
    bar.update(done, total, extra);
  };
  return cb;
}

// Registers each subcommand.
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_device_server(CLI::App& app);
void add_report(CLI::App& app);  // tables and figures of a sweep

}  // namespace gift::cli

#include <memory>

#include "gift/insitu/device.h"
#include "gift/insitu/finetune.h"

namespace gift::cli {

// The device a method talks to: a simulated chip from --device-noise-* (its true noise),
// its static errors (ImperfectionFlags: --gain-std, ...), --device-seed, --no-taps; or an external
// server (--device-command, with --device-timeout: the limit for each of its replies, see
// ExternalDeviceOptions).
struct DeviceFlags {
  NoiseFlags noise;
  ImperfectionFlags imperfections;
  uint64_t seed = 1;
  bool no_taps = false;
  std::string command;
  double timeout_s = 0;  // --device-timeout, used only when given (else ExternalDeviceOptions')
  int threads = 0;
  void add(CLI::App& app);
  std::unique_ptr<Device> make(const Architecture& arch) const;

 private:
  CLI::App* app_ = nullptr;  // to tell which options were given
};

// The fine-tuning options gift finetune and gift frontier share, bound to the fields of `o`
// (so their defaults are FinetuneOptions', set in one place): --epochs, --retrain-epochs,
// --batch-size, --optimizer, --lr, --schedule, --no-rescale, --rescale-points,
// --rescale-repeats, --rescale-images, --rescale-threshold, --checks, --score-repeats,
// --holdout, --score, --accept-z, --fit-data, --calib-inputs, --calib-repeats, --calib-sites
// and the calibration tunables (add_calib_tunables). The names
// given for the enumerations are kept as text until apply() parses them into `o`; its errors
// name the option.
struct FinetuneOptionFlags {
  std::string optimizer, schedule, score_by, fit_data;
  std::string calib_sites;  // --calib-sites: empty keeps CalibrationOptions::sites' default
  bool no_rescale = false;
  void add(CLI::App& app, FinetuneOptions& o);
  // Also refuses --holdout with --fit-data train (every calibration image scores then).
  void apply(FinetuneOptions& o) const;

 private:
  CLI::App* app_ = nullptr;  // to tell which options were given
};

// --calib-sites (CalibrationOptions::sites as comma-separated names): the option, and its value
// applied to `o` (unchanged when empty; InputError naming the option for a bad name).
void add_calib_sites(CLI::App& app, std::string& text);
void apply_calib_sites(const std::string& text, CalibrationOptions& o);
// --calib-irls-floor, --calib-irls-iterations, --calib-output-min-scale,
// --calib-output-points-per-decade, --calib-output-max-scale, bound to `o` (calibrate, finetune
// and frontier; CalibrationOptions holds the defaults and validate() the checks).
void add_calib_tunables(CLI::App& app, CalibrationOptions& o);
// --calib-bootstrap, bound to `o` (CalibrationOptions' default).
void add_calib_bootstrap(CLI::App& app, CalibrationOptions& o);
// `o` with the run's seed and threads, validated.
CalibrationOptions calibration_options(CalibrationOptions o, uint64_t seed, int threads);

// The device as a reader should know it (gift calibrate and finetune print it): a simulated one
// by its true noise and static errors, an external one by its command and what it says it is.
std::string describe_device(const DeviceFlags& d, const Device& device, int layers);

void add_calibrate(CLI::App& app);
void add_finetune(CLI::App& app);
void add_sweep(CLI::App& app);
void add_reproduce(CLI::App& app);
void add_frontier(CLI::App& app);

// Writes the tables (and figures) of the sweep in `dir`, prints the table and the paths.
void write_report(const std::string& dir, bool figures);

// Writes the table (and figures) of the frontier in `dir`, prints the table and the paths;
// without gnuplot, warns and writes the table only.
void write_frontier_report(const std::string& dir, bool figures);

}  // namespace gift::cli

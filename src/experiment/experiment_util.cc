#include "experiment_util.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "gift/core/error.h"
#include "gift/experiment/sweep.h"
#include "gift/insitu/report_json.h"
#include "gift/io/model_json.h"

namespace gift::experiment::detail {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string shown(const json& v) {
  std::string s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

[[noreturn]] void bad_value(const std::string& what, const std::string& key,
                            const std::string& expected, const json& v) {
  throw InputError(what + ": key '" + key + "' must be " + expected + ", found " + shown(v));
}

// A non-negative integer: a JSON integer, or an integral float up to 2^53 (2.0, 1e3).
std::optional<uint64_t> count_of(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    return x >= 0 ? std::optional<uint64_t>(static_cast<uint64_t>(x)) : std::nullopt;
  }
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (x >= 0 && x <= 9007199254740992.0 && std::floor(x) == x) return static_cast<uint64_t>(x);
  }
  return std::nullopt;
}

std::string integer_range(uint64_t lo, uint64_t hi) {
  if (hi == std::numeric_limits<uint64_t>::max()) {
    return lo == 0 ? "a non-negative integer" : "an integer >= " + std::to_string(lo);
  }
  return "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

uint64_t integer_value(const json& v, const std::string& key, uint64_t lo, uint64_t hi,
                       const std::string& what) {
  const std::optional<uint64_t> n = count_of(v);
  if (!n || *n < lo || *n > hi) bad_value(what, key, integer_range(lo, hi), v);
  return *n;
}

// j[key] if present: a finite number in [lo, hi] (`expected` says so in words).
double get_number(const json& j, const char* key, double fallback, double lo, double hi,
                  const std::string& expected, const std::string& what) {
  if (!j.contains(key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < lo ||
      v.get<double>() > hi) {
    bad_value(what, key, expected, v);
  }
  return v.get<double>();
}

std::string get_string(const json& j, const char* key, const std::string& fallback,
                       const std::string& expected, const std::string& what) {
  if (!j.contains(key)) return fallback;
  if (!j.at(key).is_string()) bad_value(what, key, expected, j.at(key));
  return j.at(key).get<std::string>();
}

// j[key]: a non-empty list (checked element by element by the caller).
const json& get_list(const json& j, const char* key, const std::string& expected,
                     const std::string& what) {
  const json& v = j.at(key);
  if (!v.is_array() || v.empty()) bad_value(what, key, expected, v);
  return v;
}

void reject_unknown(const json& j, const std::set<std::string>& known, const std::string& what) {
  if (!j.is_object()) throw InputError(what + ": expected a JSON object, found " + shown(j));
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!known.count(it.key())) throw InputError(what + ": unknown key '" + it.key() + "'");
  }
}

NoiseModel pattern_from_json(const json& j, size_t layers, const std::string& what) {
  if (!j.is_object()) bad_value(what, "pattern", "an object of site: std", j);
  NoiseModel m = NoiseModel::none(layers);
  const double kMax = std::numeric_limits<double>::max();
  const std::string per_layer = "a number >= 0 or a list of " + std::to_string(layers);
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "output_clip") {
      m.output_clip = get_number(j, "output_clip", 0, 0, kMax, "a number >= 0 (0 = none)", what);
      continue;
    }
    const NoiseSite site = parse_noise_site(it.key());
    const auto level = [&](const json& v) {
      if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) {
        bad_value(what, "pattern." + it.key(), per_layer, *it);
      }
      return v.get<double>();
    };
    if (it->is_number()) {
      for (LayerNoise& l : m.layers) l.at(site) = level(*it);
    } else if (it->is_array() && it->size() == layers) {
      for (size_t l = 0; l < layers; ++l) m.layers[l].at(site) = level((*it)[l]);
    } else {
      bad_value(what, "pattern." + it.key(), per_layer, *it);
    }
  }
  m.validate(layers, what + " pattern");
  return m;
}

// x * y and x + y, or max() if that overflows.
uint64_t saturating_mul(uint64_t x, uint64_t y) {
  if (x != 0 && y > std::numeric_limits<uint64_t>::max() / x) {
    return std::numeric_limits<uint64_t>::max();
  }
  return x * y;
}
uint64_t saturating_add(uint64_t x, uint64_t y) {
  return y > std::numeric_limits<uint64_t>::max() - x ? std::numeric_limits<uint64_t>::max()
                                                      : x + y;
}

void check_range(const std::string& owner, const std::string& name, int64_t value, int64_t lo,
                 int64_t hi) {
  if (value < lo || value > hi) {
    throw InputError(owner + ": " + name + " must be in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "], found " + std::to_string(value));
  }
}

std::string errno_text(int err) { return std::strerror(err); }

// Whether `path` exists (as anything). Throws InputError if it cannot tell (EACCES, ENOTDIR
// below a file, ...).
bool path_exists(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  throw InputError("cannot access '" + path + "': " + errno_text(errno));
}

// A noise model in the JSON form of noise_to_json, its number of layers taken from its lists
// (all of one length; none: no layers, an ideal device).
NoiseModel noise_of_json(const json& j, const std::string& what) {
  std::set<std::string> known = {"output_clip"};
  for (const NoiseSiteInfo& info : noise_sites()) known.insert(info.name);
  reject_unknown(j, known, what);
  size_t layers = 0;
  bool found = false;
  for (const NoiseSiteInfo& info : noise_sites()) {
    const char* site = info.name;
    if (!j.contains(site)) continue;
    if (!j.at(site).is_array()) bad_value(what, site, "a list of one std per layer", j.at(site));
    if (found && j.at(site).size() != layers) {
      const std::string expected =
          "a list of " + std::to_string(layers) + " numbers (one per layer, as the other sites)";
      bad_value(what, site, expected, j.at(site));
    }
    layers = j.at(site).size();
    found = true;
  }
  NoiseModel m = io::noise_from_json(j, layers, what);
  if (j.contains("output_clip")) {
    m.output_clip = get_number(j, "output_clip", 0, 0, std::numeric_limits<double>::max(),
                               "a number >= 0 (0 = none)", what);
  }
  return m;
}

// ------------------------------------------------------------------ runs

void check_run_dir(const std::string& dir, const std::string& what) {
  if (!path_exists(dir)) return;
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw InputError("cannot use '" + dir + "' as the " + what +
                     " directory: it is not a directory");
  }
}

std::string resume_line(size_t skipped, size_t total, const std::string& path) {
  return "resuming: " + std::to_string(skipped) + " of " + std::to_string(total) +
         " cells already finished in " + path;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double eta_seconds(std::chrono::steady_clock::time_point start, size_t finished, size_t remaining) {
  return seconds_since(start) / static_cast<double>(finished) * static_cast<double>(remaining);
}

data::Dataset load_limited(const std::string& dataset, const std::string& data_dir,
                           data::Split split, size_t limit) {
  return data::load_dataset(dataset, data_dir, split, limit);  // decodes only `limit` rows
}

void check_lab_size(const std::string& what, size_t calib_size, size_t test_size, bool test_limited,
                    const std::string& data_dir) {
  if (calib_size < test_size) return;
  throw InputError(what + " " + std::to_string(calib_size) + " leaves none of the " +
                   std::to_string(test_size) + " test images" +
                   (test_limited ? " (test_limit)" : "") + " of " + data_dir +
                   " to measure accuracy on (the lab's images are drawn from the test split)");
}

// ------------------------------------------------------------------ the "finetune" block

namespace {

// The tunables of gift's rescale step and of calibration's fits, under the keys
// finetune_tunables_to_json (insitu/report_json.h) writes; a missing key keeps the default.
void tunables_from_json(const json& f, FinetuneOptions& o, const std::string& w) {
  const double kMaxDouble = std::numeric_limits<double>::max();
  const double kPositive = std::numeric_limits<double>::denorm_min();
  constexpr int kMaxInt = std::numeric_limits<int>::max();
  CalibrationOptions& c = o.calibration;
  o.rescale_points = get_integer<int>(f, "rescale_points", o.rescale_points, 1, 1000, w);
  o.rescale_repeats = get_integer<int>(f, "rescale_repeats", o.rescale_repeats, 1, 1000, w);
  o.rescale_images = get_integer<int>(f, "rescale_images", o.rescale_images, 1, kMaxInt, w);
  o.rescale_threshold =
      get_number(f, "rescale_threshold", o.rescale_threshold, 0, kMaxDouble, "a number >= 0", w);
  c.irls_floor =
      get_number(f, "calib_irls_floor", c.irls_floor, kPositive, kMaxDouble, "a number > 0", w);
  c.irls_iterations = get_integer<int>(f, "calib_irls_iterations", c.irls_iterations, 0, 1000, w);
  c.output_min_scale = get_number(f, "calib_output_min_scale", c.output_min_scale, kPositive,
                                  kMaxDouble, "a number > 0", w);
  c.output_points_per_decade =
      get_integer<int>(f, "calib_output_points_per_decade", c.output_points_per_decade, 1, 1000, w);
  c.output_max_scale = get_number(f, "calib_output_max_scale", c.output_max_scale, kPositive,
                                  kMaxDouble, "a number > 0", w);
}

// Written only where they differ from the defaults (a study made before they existed resumes).
void tunables_to_json(const FinetuneOptions& o, const FinetuneOptions& defaults, json& j) {
  const json d = finetune_tunables_to_json(defaults), mine = finetune_tunables_to_json(o);
  for (auto it = mine.begin(); it != mine.end(); ++it) {
    if (d.at(it.key()) != it.value()) j[it.key()] = it.value();
  }
}

}  // namespace

void finetune_from_json(const json& f, FinetuneOptions& o, size_t& calib_size, bool budgets,
                        const std::string& w) {
  std::set<std::string> known = {"epochs",        "retrain_epochs", "batch_size", "lr",
                                 "score_repeats", "accept_z",       "holdout",    "score",
                                 "calib_inputs",  "calib_repeats",  "calib_size", "checks",
                                 "fit_data",      "optimizer",      "schedule",   "rescale"};
  const json tunables = finetune_tunables_to_json(o);
  for (auto it = tunables.begin(); it != tunables.end(); ++it) known.insert(it.key());
  if (budgets) known.insert({"budget_gradients", "budget_passes"});
  reject_unknown(f, known, w);
  constexpr uint64_t kAny = std::numeric_limits<uint64_t>::max();
  const double kMaxDouble = std::numeric_limits<double>::max();
  const double kPositive = std::numeric_limits<double>::denorm_min();
  o.epochs = get_integer<int>(f, "epochs", o.epochs, 0, kMaxSweepEpochs, w);
  o.retrain_epochs = get_integer<int>(f, "retrain_epochs", o.retrain_epochs, 0, kMaxSweepEpochs, w);
  o.batch_size = get_integer<int>(f, "batch_size", o.batch_size, 1, kMaxSweepBatch, w);
  o.optimizer.lr = get_number(f, "lr", o.optimizer.lr, kPositive, kMaxDouble, "a number > 0", w);
  o.score_repeats = get_integer<int>(f, "score_repeats", o.score_repeats, 1, kMaxSweepRepeats, w);
  o.accept_z = get_number(f, "accept_z", o.accept_z, 0, kMaxDouble, "a number >= 0", w);
  o.holdout = get_number(f, "holdout", o.holdout, kPositive, 1, "a number in (0, 1)", w);
  o.score_by = parse_score_by(get_string(f, "score", to_string(o.score_by), "accuracy or loss", w));
  o.calibration.inputs =
      get_integer<int>(f, "calib_inputs", o.calibration.inputs, 2, kMaxSweepCalibSize, w);
  o.calibration.repeats =
      get_integer<int>(f, "calib_repeats", o.calibration.repeats, 2, kMaxSweepRepeats, w);
  calib_size = get_integer<size_t>(f, "calib_size", calib_size, 2, kMaxSweepCalibSize, w);
  o.checks = get_integer<int>(f, "checks", o.checks, 0, kMaxSweepEpochs, w);
  o.fit_data =
      parse_fit_data(get_string(f, "fit_data", to_string(o.fit_data), "calib or train", w));
  // A name the parser refuses is reported like any other bad value (naming the key).
  const auto named = [&](const char* key, const std::string& fallback, const char* expected,
                         auto parse) {
    const std::string name = get_string(f, key, fallback, expected, w);
    try {
      return parse(name);
    } catch (const InputError&) {
      bad_value(w, key, expected, f.at(key));
    }
  };
  o.optimizer.kind = named("optimizer", to_string(o.optimizer.kind), "adam or sgd",
                           [](const std::string& n) { return parse_optimizer(n); });
  o.schedule = named("schedule", to_string(o.schedule), "constant or cosine",
                     [](const std::string& n) { return parse_lr_schedule(n); });
  if (f.contains("rescale")) {
    if (!f.at("rescale").is_boolean()) bad_value(w, "rescale", "true or false", f.at("rescale"));
    o.rescale = f.at("rescale").get<bool>();
  }
  tunables_from_json(f, o, w);
  if (budgets) {
    o.budget_gradients =
        get_integer<uint64_t>(f, "budget_gradients", o.budget_gradients, 0, kAny, w);
    o.budget_passes = get_integer<uint64_t>(f, "budget_passes", o.budget_passes, 0, kAny, w);
  }
}

json finetune_to_json(const FinetuneOptions& o, size_t calib_size, bool budgets) {
  json j = {{"epochs", o.epochs},
            {"retrain_epochs", o.retrain_epochs},
            {"batch_size", o.batch_size},
            {"lr", o.optimizer.lr},
            {"score_repeats", o.score_repeats},
            {"accept_z", o.accept_z},
            {"holdout", o.holdout},
            {"score", to_string(o.score_by)},
            {"calib_inputs", o.calibration.inputs},
            {"calib_repeats", o.calibration.repeats},
            {"calib_size", calib_size},
            {"checks", o.checks},
            {"fit_data", to_string(o.fit_data)}};
  // Written only where they differ from the defaults, so a directory made before these keys
  // existed (whose config.json lacks them) still matches and resumes.
  const FinetuneOptions defaults;
  if (o.optimizer.kind != defaults.optimizer.kind) j["optimizer"] = to_string(o.optimizer.kind);
  if (o.schedule != defaults.schedule) j["schedule"] = to_string(o.schedule);
  if (o.rescale != defaults.rescale) j["rescale"] = o.rescale;
  tunables_to_json(o, defaults, j);
  if (budgets) {
    j["budget_gradients"] = o.budget_gradients;
    j["budget_passes"] = o.budget_passes;
  }
  return j;
}

void check_finetune(const std::string& owner, const FinetuneOptions& o, size_t calib_size) {
  check_range(owner, "finetune.epochs", o.epochs, 0, kMaxSweepEpochs);
  check_range(owner, "finetune.retrain_epochs", o.retrain_epochs, 0, kMaxSweepEpochs);
  check_range(owner, "finetune.batch_size", o.batch_size, 1, kMaxSweepBatch);
  check_range(owner, "finetune.score_repeats", o.score_repeats, 1, kMaxSweepRepeats);
  check_range(owner, "finetune.calib_repeats", o.calibration.repeats, 2, kMaxSweepRepeats);
  check_range(owner, "finetune.calib_size",
              static_cast<int64_t>(std::min<size_t>(calib_size, INT64_MAX)), 2, kMaxSweepCalibSize);
  if (o.calibration.inputs < 2 || static_cast<size_t>(o.calibration.inputs) > calib_size) {
    throw InputError(owner + ": finetune.calib_inputs must be in [2, calib_size = " +
                     std::to_string(calib_size) + "], found " +
                     std::to_string(o.calibration.inputs));
  }
  // The hold-out split of the calibration set must leave images to fit (as gift splits it).
  const double held = std::max(1.0, std::round(o.holdout * static_cast<double>(calib_size)));
  if (o.holdout > 0 && o.holdout < 1 && held >= static_cast<double>(calib_size)) {
    throw InputError(owner + ": finetune.holdout " + json(o.holdout).dump() + " of calib_size " +
                     std::to_string(calib_size) + " leaves no image to fit");
  }
}

}  // namespace gift::experiment::detail

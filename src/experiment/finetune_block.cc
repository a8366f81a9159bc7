#include "finetune_block.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "config_values.h"
#include "gift/core/error.h"
#include "gift/experiment/sweep.h"

namespace gift::experiment::detail {

void finetune_from_json(const json& f, FinetuneOptions& o, size_t& calib_size, bool budgets,
                        const std::string& w) {
  std::set<std::string> known = {"epochs",        "retrain_epochs", "batch_size", "lr",
                                 "score_repeats", "accept_z",       "holdout",    "score",
                                 "calib_inputs",  "calib_repeats",  "calib_size", "checks",
                                 "fit_data",      "optimizer",      "schedule",   "rescale"};
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

void check_lab_size(const std::string& what, size_t calib_size, size_t test_size, bool test_limited,
                    const std::string& data_dir) {
  if (calib_size < test_size) return;
  throw InputError(what + " " + std::to_string(calib_size) + " leaves none of the " +
                   std::to_string(test_size) + " test images" +
                   (test_limited ? " (test_limit)" : "") + " of " + data_dir +
                   " to measure accuracy on (the lab's images are drawn from the test split)");
}

}  // namespace gift::experiment::detail

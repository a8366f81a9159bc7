#include "gift/insitu/finetune.h"

#include <cmath>
#include <cstdio>

#include "gift/core/error.h"
#include "gift/insitu/methods.h"

namespace gift {

NoiseModel FinetuneOptions::assumed_noise(const Architecture& arch) const {
  return assumed.layers.empty() ? NoiseModel::none(arch.num_layers()) : assumed;
}

void FinetuneOptions::validate(const Architecture& arch) const {
  if (epochs < 0 || retrain_epochs < 0) throw InputError("fine-tuning: epochs must be >= 0");
  if (batch_size < 1) throw InputError("fine-tuning: batch size must be >= 1");
  if (score_repeats < 1) throw InputError("fine-tuning: score repeats must be >= 1");
  if (checks < 0) throw InputError("fine-tuning: checks must be >= 0");
  if (!(holdout > 0 && holdout < 1)) throw InputError("fine-tuning: holdout must be in (0, 1)");
  if (!(accept_z >= 0) || !std::isfinite(accept_z))
    throw InputError("fine-tuning: accept_z must be >= 0");
  if (threads < 0) throw InputError("fine-tuning: threads must be >= 0");
  if (rescale_points < 1 || rescale_points > 1000)
    throw InputError("fine-tuning: rescale_points must be in [1, 1000]");
  if (rescale_repeats < 1 || rescale_repeats > 1000)
    throw InputError("fine-tuning: rescale_repeats must be in [1, 1000]");
  if (rescale_images < 1) throw InputError("fine-tuning: rescale_images must be >= 1");
  if (!(rescale_threshold >= 0) || !std::isfinite(rescale_threshold))
    throw InputError("fine-tuning: rescale_threshold must be a number >= 0");
  optimizer.validate();
  calibration.validate();
  assumed_noise(arch).validate(arch.num_layers(), "assumed noise");
  if (!calibrate) {
    if (noise.layers.empty())
      throw InputError("fine-tuning without calibration needs a noise model");
    noise.validate(arch.num_layers(), "fine-tuning noise");
  }
}

const char* to_string(FitData d) { return d == FitData::kCalibration ? "calib" : "train"; }

FitData parse_fit_data(const std::string& name) {
  if (name == "calib") return FitData::kCalibration;
  if (name == "train") return FitData::kTraining;
  throw InputError("unknown fit data '" + name + "': expected calib or train");
}

const char* to_string(ScoreBy s) { return s == ScoreBy::kLoss ? "loss" : "accuracy"; }

ScoreBy parse_score_by(const std::string& name) {
  if (name == "loss") return ScoreBy::kLoss;
  if (name == "accuracy") return ScoreBy::kAccuracy;
  throw InputError("unknown score '" + name + "': expected accuracy or loss");
}

std::string FinetuneReport::summary() const {
  char buf[768];
  std::snprintf(buf, sizeof buf,
                "%s: on %zu held-out images, device loss %.4f (se %.4f) -> %.4f (se %.4f), "
                "accuracy %.2f%% -> %.2f%%; ",
                method.c_str(), confirm_images, start_loss, start_se, final_loss, final_se,
                100 * start_accuracy, 100 * final_accuracy);
  std::string s = buf;
  if (tested) {
    const bool acc = score_by_accuracy;
    std::snprintf(buf, sizeof buf,
                  "candidate %s %+.*f (se %.*f; better on %ld images, worse on %ld; %s p = %.3g, "
                  "level %.3g): %s; ",
                  acc ? "error-rate gain" : "loss gain", acc ? 2 : 4, acc ? 100 * gain : gain,
                  acc ? 2 : 4, acc ? 100 * gain_se : gain_se, images_better, images_worse,
                  acc ? "sign test" : "t test", p_value, level,
                  accepted ? "accepted" : "start kept");
    s += buf;
  } else {
    s += method == "none" ? "nothing to test; " : "no candidate (nothing moved): start kept; ";
  }
  if (select_images > 0) {
    std::snprintf(buf, sizeof buf, "best check %d chosen on %zu other images; ", best_check,
                  select_images);
    s += buf;
  }
  std::snprintf(buf, sizeof buf,
                "device passes %llu, programmings %llu, sample gradients %llu, digital %.2f s",
                static_cast<unsigned long long>(device_passes),
                static_cast<unsigned long long>(device_programmings),
                static_cast<unsigned long long>(sample_gradients), digital_seconds);
  s += buf;
  const MethodInfo* info = find_method(method);
  if (checks.size() > 1 && info && info->alignment) {
    std::snprintf(buf, sizeof buf, "; alignment: sign agreement %.2f, correlation %.2f",
                  sign_agreement, correlation);
    s += buf;
  }
  return s;
}

}  // namespace gift

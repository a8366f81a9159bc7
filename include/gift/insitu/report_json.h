// The JSON forms of insitu's results and tunables, apart from the numeric headers
// (calibration.h, finetune.h, device.h, lab_data.h include no JSON): what gift calibrate's
// --json, gift finetune's report and the sweep and frontier configs write.
#pragma once

#include <nlohmann/json.hpp>

#include "gift/insitu/calibration.h"
#include "gift/insitu/finetune.h"

namespace gift {

// Calibration::report()'s numbers: {"per_layer", "device_passes", "estimate", "low", "high",
// "twin_noise" (noise models), and "static_error_index": [L], "static_weight": {"value",
// "low", "high"}: [L] each, "static_misspecified": [L] booleans, "refit_outside": [L] lists of
// the site names whose re-fitted point lies outside its interval (per layer), or "scale":
// [value, low, high] and "pattern" (output-only)}.
nlohmann::json calibration_to_json(const Calibration& c);

// One method's report: FinetuneReport's fields by name, its calibration (when it calibrated)
// as calibration_to_json writes it.
nlohmann::json finetune_report_to_json(const FinetuneReport& r);

// The tunables of gift's rescale step and of calibration's fits, every key with its value:
// {"rescale_points", "rescale_repeats", "rescale_images", "rescale_threshold",
//  "calib_irls_floor", "calib_irls_iterations", "calib_output_min_scale",
//  "calib_output_points_per_decade", "calib_output_max_scale"}. The configs' finetune block
// writes those that differ from the defaults (src/experiment), gift finetune's report all.
nlohmann::json finetune_tunables_to_json(const FinetuneOptions& o);

}  // namespace gift

#include "gift/insitu/report_json.h"

#include <vector>

#include "gift/io/model_json.h"

namespace gift {

nlohmann::json calibration_to_json(const Calibration& c) {
  nlohmann::json j;
  j["per_layer"] = c.per_layer;
  j["device_passes"] = c.device_passes;
  j["estimate"] = io::noise_to_json(c.estimate());
  j["low"] = io::noise_to_json(c.bound(false));
  j["high"] = io::noise_to_json(c.bound(true));
  j["twin_noise"] = io::noise_to_json(c.twin_noise());
  if (!c.per_layer) {
    j["scale"] = {c.scale.mean, c.scale.low, c.scale.high};
    j["pattern"] = io::noise_to_json(c.pattern);
  } else {
    std::vector<double> idx;
    nlohmann::json sw = {{"value", nlohmann::json::array()},
                         {"low", nlohmann::json::array()},
                         {"high", nlohmann::json::array()}};
    for (const LayerCalibration& l : c.layers) {
      idx.push_back(l.static_error_index);
      sw["value"].push_back(l.static_weight.mean);
      sw["low"].push_back(l.static_weight.low);
      sw["high"].push_back(l.static_weight.high);
    }
    j["static_error_index"] = idx;
    j["static_weight"] = sw;
    nlohmann::json mis = nlohmann::json::array(), outside = nlohmann::json::array();
    for (const LayerCalibration& l : c.layers) {
      mis.push_back(l.static_misspecified);
      nlohmann::json names = nlohmann::json::array();
      for (int s = 0; s < kNumNoiseSites; ++s) {
        if (l.site[s].refit_outside) names.push_back(to_string(static_cast<NoiseSite>(s)));
      }
      outside.push_back(names);
    }
    j["static_misspecified"] = mis;
    j["refit_outside"] = outside;
  }
  return j;
}

nlohmann::json finetune_report_to_json(const FinetuneReport& r) {
  nlohmann::json ep = nlohmann::json::array();
  for (const CheckScore& e : r.checks) {
    ep.push_back({{"check", e.check},
                  {"step", e.step},
                  {"sample_gradients", e.sample_gradients},
                  {"device_loss", e.device_loss},
                  {"device_se", e.device_se},
                  {"device_accuracy", e.device_accuracy},
                  {"twin_loss", e.twin_loss}});
  }
  nlohmann::json j = {
      {"method", r.method},
      {"fit_images", r.fit_images},
      {"score_images", r.score_images},
      {"noise_used", io::noise_to_json(r.noise_used)},
      {"start_loss", r.start_loss},
      {"start_se", r.start_se},
      {"final_loss", r.final_loss},
      {"final_se", r.final_se},
      {"start_accuracy", r.start_accuracy},
      {"final_accuracy", r.final_accuracy},
      {"select_images", r.select_images},
      {"confirm_images", r.confirm_images},
      {"acceptance_test",
       {{"tested", r.tested},
        {"score_by", r.score_by_accuracy ? "accuracy" : "loss"},
        {"test", r.score_by_accuracy ? "sign" : "t"},
        {"candidate_loss", r.candidate_loss},
        {"candidate_accuracy", r.candidate_accuracy},
        {"gain", r.gain},
        {"gain_se", r.gain_se},
        {"images_better", r.images_better},
        {"images_worse", r.images_worse},
        {"p_value", r.p_value},
        {"level", r.level}}},
      {"checks", ep},
      {"best_check", r.best_check},
      {"accepted", r.accepted},
      {"alignment", {{"sign_agreement", r.sign_agreement}, {"correlation", r.correlation}}},
      {"fit_data", to_string(r.fit_data)},
      {"budget_gradients", r.budget_gradients},
      {"budget_passes", r.budget_passes},
      {"budget_limited", r.budget_limited},
      {"twin_forwards", r.twin_forwards},
      {"rescale", r.rescale},
      {"device_passes", r.device_passes},
      {"device_programmings", r.device_programmings},
      {"sample_gradients", r.sample_gradients},
      {"digital_seconds", r.digital_seconds},
      {"device_seconds", r.device_seconds}};
  if (r.calibrated) j["calibration"] = calibration_to_json(r.calibration);
  return j;
}

nlohmann::json finetune_tunables_to_json(const FinetuneOptions& o) {
  const CalibrationOptions& c = o.calibration;
  return {{"rescale_points", o.rescale_points},
          {"rescale_repeats", o.rescale_repeats},
          {"rescale_images", o.rescale_images},
          {"rescale_threshold", o.rescale_threshold},
          {"calib_irls_floor", c.irls_floor},
          {"calib_irls_iterations", c.irls_iterations},
          {"calib_output_min_scale", c.output_min_scale},
          {"calib_output_points_per_decade", c.output_points_per_decade},
          {"calib_output_max_scale", c.output_max_scale}};
}

}  // namespace gift

// Bindings of in situ work (insitu/): the lab's labelled sets, calibration and fine-tuning with
// every method of the registry (insitu/methods.h), on any gift.Device (a Python chip or the
// simulated one), with the GIL released and Ctrl-C checked before every device call.
//
// finetune never changes the network it is given: the method runs on a copy, returned with its
// report only when the method finished, so an exception (from a Python chip, a bad option or
// Ctrl-C) leaves nothing half-done. Options have the CLI's names and defaults (gift calibrate,
// gift finetune); as there, one seed drives calibration and fine-tuning.
#include "common.h"
#include "gift/core/error.h"
#include "gift/insitu/calibration.h"
#include "gift/insitu/finetune.h"
#include "gift/insitu/lab_data.h"
#include "gift/insitu/methods.h"
#include "gift/insitu/report_json.h"
#include "gift/io/model_json.h"
#include "py_device.h"

namespace gift::py {
namespace {

void bind_sets(pyb::module_& m) {
  m.def(
      "lab_split",
      [](const data::Dataset& test, size_t n, uint64_t seed) {
        LabSplit s = lab_split(test, n, seed);
        return pyb::make_tuple(std::make_shared<data::Dataset>(std::move(s.calib)),
                               std::make_shared<data::Dataset>(std::move(s.eval)));
      },
      pyb::arg("test"), pyb::arg("n"), pyb::arg("seed") = 1,
      "(calib, eval): n test images chosen by seed and the rest, as gift finetune --calib-size");
  m.def(
      "calibration_subset",
      [](const data::Dataset& train, size_t n, uint64_t seed) {
        return std::make_shared<data::Dataset>(calibration_subset(train, n, seed));
      },
      pyb::arg("train"), pyb::arg("n"), pyb::arg("seed") = 1,
      "n training images chosen by seed, as gift calibrate picks its inputs");
  pyb::class_<DeviceAccuracy, Interval>(m, "DeviceAccuracy",
                                        "gift.Interval of the accuracy over noise draws, and more")
      .def_readonly("loss", &DeviceAccuracy::loss)
      .def_readonly("per_repeat", &DeviceAccuracy::per_repeat)
      .def_readonly("per_pass", &DeviceAccuracy::per_repeat, "deprecated: per_repeat");
  m.def(
      "device_accuracy",
      [](Device& device, const Network& net, const data::Dataset& data, int repeats) {
        return interruptible([&] {
          StopCheckingDevice d(device);
          return device_accuracy(d, net, data, repeats);
        });
      },
      pyb::arg("device"), pyb::arg("net"), pyb::arg("data"), pyb::arg("repeats") = 5,
      "accuracy of net on the device over repeats repeats of data (programs it first)");
}

void bind_calibration(pyb::module_& m) {
  pyb::class_<CalibrationOptions>(m, "CalibrationOptions", "Options of gift calibrate")
      .def(pyb::init<>())
      .def_readwrite("calib_inputs", &CalibrationOptions::inputs)
      .def_readwrite("calib_repeats", &CalibrationOptions::repeats)
      .def_readwrite("calib_bootstrap", &CalibrationOptions::bootstrap)
      .def_readwrite("calib_irls_floor", &CalibrationOptions::irls_floor)
      .def_readwrite("calib_irls_iterations", &CalibrationOptions::irls_iterations)
      .def_readwrite("calib_output_min_scale", &CalibrationOptions::output_min_scale)
      .def_readwrite("calib_output_points_per_decade",
                     &CalibrationOptions::output_points_per_decade)
      .def_readwrite("calib_output_max_scale", &CalibrationOptions::output_max_scale)
      .def_readwrite("seed", &CalibrationOptions::seed)
      .def_readwrite("threads", &CalibrationOptions::threads)
      .def_property(
          "calib_sites",
          [](const CalibrationOptions& o) {
            std::vector<std::string> names;
            for (NoiseSite s : o.sites) names.push_back(to_string(s));
            return names;
          },
          [](CalibrationOptions& o, const std::vector<std::string>& names) {
            o.sites.clear();
            for (const std::string& n : names) o.sites.push_back(parse_noise_site(n));
          },
          "the per-pass sites the fit may find (names; docs/method.md)")
      .def("validate", &CalibrationOptions::validate);
  pyb::class_<Estimate, Interval>(m, "Estimate",
                                  "A std (mean) and its 95% interval over the repeats: a "
                                  "gift.Interval; value is mean's older name")
      .def_readonly("value", &Estimate::mean)
      .def_readonly("refit_outside", &Estimate::refit_outside)
      .def("__repr__", [](const Estimate& e) {
        return "gift.Estimate(" + std::to_string(e.mean) + ", [" + std::to_string(e.low) + ", " +
               std::to_string(e.high) + "])";
      });
  pyb::class_<LayerCalibration>(m, "LayerCalibration")
      .def_property_readonly("sites",
                             [](const LayerCalibration& l) {
                               pyb::dict d;
                               for (const NoiseSiteInfo& s : noise_sites())
                                 d[s.name] = l.site[site_index(s.site)];
                               return d;
                             })
      .def_readonly("static_error_index", &LayerCalibration::static_error_index)
      .def_readonly("static_weight", &LayerCalibration::static_weight)
      .def_readonly("static_misspecified", &LayerCalibration::static_misspecified);
  pyb::class_<Calibration>(m, "Calibration", "What calibrate measured (insitu/calibration.h)")
      .def_readonly("per_layer", &Calibration::per_layer)
      .def_readonly("layers", &Calibration::layers)
      .def_readonly("scale", &Calibration::scale)
      .def_readonly("pattern", &Calibration::pattern)
      .def_readonly("device_passes", &Calibration::device_passes)
      .def("estimate", &Calibration::estimate)
      .def("bound", &Calibration::bound, pyb::arg("upper"))
      .def("twin_noise", &Calibration::twin_noise)
      .def("report", &Calibration::report)
      .def("to_json", [](const Calibration& c) { return to_python(calibration_to_json(c)); });
  m.def(
      "calibrate",
      [](Device& device, const Network& net, const pyb::object& inputs,
         const CalibrationOptions& options, const NoiseModel& pattern) {
        const Mat x = to_data(inputs, "inputs");
        options.validate();
        return interruptible([&] {
          StopCheckingDevice d(device);
          return calibrate(d, net, x, options, pattern);
        });
      },
      pyb::arg("device"), pyb::arg("net"), pyb::arg("inputs"),
      pyb::arg("options") = CalibrationOptions{}, pyb::arg("pattern") = NoiseModel{},
      "programs net and fits the device's noise from the first calib_inputs rows of inputs");
}

template <class T, class Get, class Set>
void prop(pyb::class_<FinetuneOptions>& c, const char* name, Get get, Set set) {
  c.def_property(
      name, [get](const FinetuneOptions& o) -> T { return get(o); },
      [set](FinetuneOptions& o, T v) { set(o, v); });
}

void bind_finetune_options(pyb::module_& m) {
  using O = FinetuneOptions;
  pyb::class_<O> c(m, "FinetuneOptions", "Options of gift finetune, with its defaults");
  c.def(pyb::init<>())
      .def_readwrite("epochs", &O::epochs)
      .def_readwrite("retrain_epochs", &O::retrain_epochs)
      .def_readwrite("batch_size", &O::batch_size)
      .def_readwrite("rescale", &O::rescale, "False: --no-rescale")
      .def_readwrite("rescale_points", &O::rescale_points)
      .def_readwrite("rescale_repeats", &O::rescale_repeats)
      .def_readwrite("rescale_images", &O::rescale_images)
      .def_readwrite("rescale_threshold", &O::rescale_threshold)
      .def_readwrite("checks", &O::checks)
      .def_readwrite("score_repeats", &O::score_repeats)
      .def_readwrite("holdout", &O::holdout)
      .def_readwrite("accept_z", &O::accept_z)
      .def_readwrite("calibrate", &O::calibrate, "False: use `noise` as the estimate")
      .def_readwrite("noise", &O::noise)
      .def_readwrite("assumed", &O::assumed, "the noise the network was trained under")
      .def_readwrite("budget_gradients", &O::budget_gradients)
      .def_readwrite("budget_passes", &O::budget_passes)
      .def_readwrite("seed", &O::seed, "calibration set, calibration and fine-tuning")
      .def_readwrite("threads", &O::threads)
      .def("validate", &O::validate);
  prop<std::string>(
      c, "optimizer", [](const O& o) { return to_string(o.optimizer.kind); },
      [](O& o, const std::string& s) { o.optimizer.kind = parse_optimizer(s); });
  prop<double>(
      c, "lr", [](const O& o) { return o.optimizer.lr; },
      [](O& o, double v) { o.optimizer.lr = v; });
  prop<std::string>(
      c, "schedule", [](const O& o) { return to_string(o.schedule); },
      [](O& o, const std::string& s) { o.schedule = parse_lr_schedule(s); });
  prop<std::string>(
      c, "score", [](const O& o) { return to_string(o.score_by); },
      [](O& o, const std::string& s) { o.score_by = parse_score_by(s); });
  prop<std::string>(
      c, "fit_data", [](const O& o) { return to_string(o.fit_data); },
      [](O& o, const std::string& s) { o.fit_data = parse_fit_data(s); });
  prop<int>(
      c, "calib_inputs", [](const O& o) { return o.calibration.inputs; },
      [](O& o, int v) { o.calibration.inputs = v; });
  prop<int>(
      c, "calib_repeats", [](const O& o) { return o.calibration.repeats; },
      [](O& o, int v) { o.calibration.repeats = v; });
  prop<int>(
      c, "calib_bootstrap", [](const O& o) { return o.calibration.bootstrap; },
      [](O& o, int v) { o.calibration.bootstrap = v; });
  prop<double>(
      c, "calib_irls_floor", [](const O& o) { return o.calibration.irls_floor; },
      [](O& o, double v) { o.calibration.irls_floor = v; });
  prop<int>(
      c, "calib_irls_iterations", [](const O& o) { return o.calibration.irls_iterations; },
      [](O& o, int v) { o.calibration.irls_iterations = v; });
  prop<double>(
      c, "calib_output_min_scale", [](const O& o) { return o.calibration.output_min_scale; },
      [](O& o, double v) { o.calibration.output_min_scale = v; });
  prop<int>(
      c, "calib_output_points_per_decade",
      [](const O& o) { return o.calibration.output_points_per_decade; },
      [](O& o, int v) { o.calibration.output_points_per_decade = v; });
  prop<double>(
      c, "calib_output_max_scale", [](const O& o) { return o.calibration.output_max_scale; },
      [](O& o, double v) { o.calibration.output_max_scale = v; });
  prop<std::vector<std::string>>(
      c, "calib_sites",
      [](const O& o) {
        std::vector<std::string> names;
        for (NoiseSite s : o.calibration.sites) names.push_back(to_string(s));
        return names;
      },
      [](O& o, const std::vector<std::string>& names) {
        o.calibration.sites.clear();
        for (const std::string& n : names) o.calibration.sites.push_back(parse_noise_site(n));
      });
}

void bind_finetune(pyb::module_& m) {
  pyb::class_<CheckScore>(m, "CheckScore")
      .def_readonly("check", &CheckScore::check)
      .def_readonly("epoch", &CheckScore::check, "deprecated: check (it counts checks)")
      .def_readonly("step", &CheckScore::step)
      .def_readonly("device_loss", &CheckScore::device_loss)
      .def_readonly("device_accuracy", &CheckScore::device_accuracy)
      .def_readonly("twin_loss", &CheckScore::twin_loss);
  m.attr("EpochScore") = m.attr("CheckScore");  // the old name
  using R = FinetuneReport;
  pyb::class_<R>(m, "FinetuneReport", "What a method did (insitu/finetune.h)")
      .def_readonly("method", &R::method)
      .def_readonly("calibrated", &R::calibrated)
      .def_readonly("calibration", &R::calibration)
      .def_readonly("noise_used", &R::noise_used)
      .def_readonly("start_loss", &R::start_loss)
      .def_readonly("final_loss", &R::final_loss)
      .def_readonly("start_accuracy", &R::start_accuracy)
      .def_readonly("final_accuracy", &R::final_accuracy)
      .def_readonly("checks", &R::checks)
      .def_readonly("best_check", &R::best_check)
      .def_readonly("epochs", &R::checks, "deprecated: checks")
      .def_readonly("best_epoch", &R::best_check, "deprecated: best_check")
      .def_readonly("accepted", &R::accepted)
      .def_readonly("confirm_images", &R::confirm_images)
      .def_readonly("select_images", &R::select_images)
      .def_readonly("gain", &R::gain)
      .def_readonly("gain_se", &R::gain_se)
      .def_readonly("p_value", &R::p_value)
      .def_readonly("level", &R::level)
      .def_readonly("rescale", &R::rescale)
      .def_readonly("device_passes", &R::device_passes)
      .def_readonly("device_programmings", &R::device_programmings)
      .def_readonly("sample_gradients", &R::sample_gradients)
      .def_readonly("digital_seconds", &R::digital_seconds)
      .def_readonly("device_seconds", &R::device_seconds)
      .def("summary", &R::summary)
      .def("to_json", [](const R& r) { return to_python(finetune_report_to_json(r)); });
  m.def(
      "finetune",
      [](const std::string& method, const Network& net, Device& device, const data::Dataset& calib,
         const data::Dataset& train, FinetuneOptions o) {
        std::unique_ptr<FinetuneMethod> fm = make_method(method);
        // As gift finetune: the run's seed and threads drive the calibration too.
        o.calibration.seed = o.seed;
        o.calibration.threads = o.threads;
        o.calibration.validate();
        o.validate(net.arch());
        auto result = std::make_shared<Network>(net);
        FinetuneReport r = interruptible([&] {
          StopCheckingDevice d(device);
          return fm->run(*result, d, calib, train, o);
        });
        return pyb::make_tuple(result, std::move(r));
      },
      pyb::arg("method"), pyb::arg("net"), pyb::arg("device"), pyb::arg("calib"), pyb::arg("train"),
      pyb::arg("options") = FinetuneOptions{},
      "(fine-tuned copy of net, FinetuneReport); net itself is never changed");
  m.def("method_names", &method_names, pyb::arg("with_baseline") = true);
  m.def("method_summary", [](const std::string& name) { return method_info(name).summary; });
}

}  // namespace

void register_insitu(pyb::module_& m) {
  bind_sets(m);
  bind_calibration(m);
  bind_finetune_options(m);
  bind_finetune(m);
}

}  // namespace gift::py

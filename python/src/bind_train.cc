// Bindings of training and evaluation (train/trainer.h, train/evaluate.h): TrainOptions and
// EvalOptions with the CLI's flag names and defaults (the structs' own), train (resumable per
// epoch, as `gift train`) and evaluate (Monte-Carlo accuracy with its 95% interval).
//
// train works on a copy of the checkpoint's network and copies it back after every finished
// epoch, with the state and (given `out`) the checkpoint file, as the CLI saves after every
// epoch: a call stopped by Ctrl-C or by an exception from a callback leaves the checkpoint (and
// the file) at the last finished epoch, and the same call again resumes exactly.
#include <sys/stat.h>

#include "common.h"
#include "gift/core/error.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"
#include "gift/train/evaluate.h"
#include "gift/train/trainer.h"
#include "py_checkpoint.h"

namespace gift::py {
namespace {

// Properties named after `gift train`'s flags (--optimizer, --lr, --lr-schedule, ...).
void bind_train_options(pyb::module_& m) {
  pyb::class_<TrainOptions>(m, "TrainOptions", "Options of gift train, with its defaults")
      .def(pyb::init<>())
      .def_readwrite("epochs", &TrainOptions::epochs)
      .def_readwrite("batch_size", &TrainOptions::batch_size)
      .def_property(
          "optimizer", [](const TrainOptions& o) { return to_string(o.optimizer.kind); },
          [](TrainOptions& o, const std::string& s) { o.optimizer.kind = parse_optimizer(s); })
      .def_property(
          "lr", [](const TrainOptions& o) { return o.optimizer.lr; },
          [](TrainOptions& o, double v) { o.optimizer.lr = v; })
      .def_property(
          "lr_schedule", [](const TrainOptions& o) { return to_string(o.schedule); },
          [](TrainOptions& o, const std::string& s) { o.schedule = parse_lr_schedule(s); })
      .def_property(
          "momentum", [](const TrainOptions& o) { return o.optimizer.momentum; },
          [](TrainOptions& o, double v) { o.optimizer.momentum = v; })
      .def_property(
          "beta1", [](const TrainOptions& o) { return o.optimizer.beta1; },
          [](TrainOptions& o, double v) { o.optimizer.beta1 = v; })
      .def_property(
          "beta2", [](const TrainOptions& o) { return o.optimizer.beta2; },
          [](TrainOptions& o, double v) { o.optimizer.beta2 = v; })
      .def_property(
          "eps", [](const TrainOptions& o) { return o.optimizer.eps; },
          [](TrainOptions& o, double v) { o.optimizer.eps = v; })
      .def_property(
          "weight_decay", [](const TrainOptions& o) { return o.optimizer.weight_decay; },
          [](TrainOptions& o, double v) { o.optimizer.weight_decay = v; })
      .def_readwrite("noise", &TrainOptions::noise, "the assumed noise (empty: none)")
      .def_readwrite("seed", &TrainOptions::seed)
      .def_readwrite("threads", &TrainOptions::threads)
      .def("validate", &TrainOptions::validate);

  pyb::class_<EpochLog>(m, "EpochLog")
      .def_readonly("epoch", &EpochLog::epoch)
      .def_readonly("loss", &EpochLog::loss)
      .def_readonly("accuracy", &EpochLog::accuracy)
      .def_readonly("seconds", &EpochLog::seconds)
      .def("__repr__", [](const EpochLog& e) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "gift.EpochLog(epoch=%d, loss=%.4f, accuracy=%.4f)", e.epoch,
                      e.loss, e.accuracy);
        return std::string(buf);
      });
  pyb::class_<TrainSummary>(m, "TrainSummary")
      .def_readonly("epochs", &TrainSummary::epochs)
      .def_readonly("diverged", &TrainSummary::diverged)
      .def_readonly("message", &TrainSummary::message)
      .def_readonly("seconds", &TrainSummary::seconds)
      .def_readonly("samples_per_second", &TrainSummary::samples_per_second)
      .def("report", &TrainSummary::report);
}

void bind_eval(pyb::module_& m) {
  pyb::class_<EvalOptions>(m, "EvalOptions", "Options of gift eval, with its defaults")
      .def(pyb::init<>())
      .def_readwrite("noise", &EvalOptions::noise, "empty: noiseless")
      .def_readwrite("repeats", &EvalOptions::repeats, "noise draws (1 when noiseless)")
      .def_readwrite("seed", &EvalOptions::seed)
      .def_readwrite("threads", &EvalOptions::threads)
      .def("validate", &EvalOptions::validate);
  pyb::class_<EvalResult, Interval>(
      m, "EvalResult", "Accuracy in [0, 1]: a gift.Interval over noise draws, and more")
      .def_readonly("loss", &EvalResult::loss)
      .def_readonly("accuracies", &EvalResult::accuracies)
      .def("describe", &EvalResult::describe)
      .def("__repr__",
           [](const EvalResult& r) { return "gift.EvalResult('" + r.describe() + "')"; });
  m.def(
      "evaluate",
      [](const Network& net, const pyb::object& images, const pyb::object& labels,
         const EvalOptions& options) {
        const Mat x = to_data(images, "images");
        const std::vector<int> y = to_labels(labels, "labels");
        return interruptible([&] { return evaluate(net, x, y, options); });
      },
      pyb::arg("net"), pyb::arg("images"), pyb::arg("labels"), pyb::arg("options") = EvalOptions{},
      "accuracy of net under options.noise, Monte-Carlo over options.repeats draws (GIL released)");
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

TrainSummary train_checkpoint(PyCheckpoint& ck, const pyb::object& images,
                              const pyb::object& labels, const std::string& out,
                              const pyb::object& progress, const pyb::object& epoch_end) {
  if (!out.empty()) io::prepare_output(out);
  const Mat x = to_data(images, "images");
  const std::vector<int> y = to_labels(labels, "labels");
  TrainSummary summary;
  if (ck.state.epochs_done >= ck.train.epochs) return summary;  // nothing to do, as the CLI
  const std::shared_ptr<Network> committed = ck.net;            // the object Python sees
  Network work = *committed;
  TrainState state = ck.state;
  TrainCallbacks cb;
  cb.progress = [&](size_t done, size_t total, double loss) {
    call_back(progress, done, total, loss);
  };
  cb.epoch_end = [&](const EpochLog& e, const TrainState& s) {
    io::Checkpoint file;
    {
      pyb::gil_scoped_acquire gil;          // other Python threads may use the checkpoint meanwhile
      committed->params() = work.params();  // same size: the views stay valid
      ck.state = s;
      if (!out.empty()) file = ck.to_io();
    }
    if (!out.empty()) io::save_checkpoint(out, file);
    call_back(epoch_end, e);
  };
  const TrainOptions options = ck.train;  // copied with the GIL held
  summary = interruptible([&] { return train(work, x, y, options, state, cb); });
  if (summary.diverged) throw InputError("training diverged: " + summary.message);
  if (!out.empty() && !file_exists(out)) io::save_checkpoint(out, ck.to_io());
  return summary;
}

}  // namespace

void register_train(pyb::module_& m) {
  bind_train_options(m);
  bind_eval(m);
  m.def("train", &train_checkpoint, pyb::arg("checkpoint"), pyb::arg("images"), pyb::arg("labels"),
        pyb::arg("out") = "", pyb::arg("progress") = pyb::none(),
        pyb::arg("epoch_end") = pyb::none(),
        "trains checkpoint.net from checkpoint.epochs_done to checkpoint.train.epochs (GIL "
        "released); progress(done, total, loss) within an epoch, epoch_end(EpochLog) after one; "
        "with out, writes the checkpoint after every epoch as gift train --out does");
}

}  // namespace gift::py

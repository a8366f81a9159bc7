// Bindings of checkpoints (io/checkpoint.h): gift.Checkpoint, load_checkpoint, save_checkpoint
// (the same safetensors files as the CLI's) and new_checkpoint (a fresh network as `gift train`
// makes it). Checkpoint.net is the network object itself (no copy).
#include "common.h"
#include "gift/core/error.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"
#include "py_checkpoint.h"

namespace gift::py {

void register_io(pyb::module_& m) {
  pyb::class_<PyCheckpoint>(m, "Checkpoint",
                            "A network with its training options and state (io/checkpoint.h)")
      .def(pyb::init<>())
      .def_readwrite("net", &PyCheckpoint::net)
      .def_readwrite("train", &PyCheckpoint::train,
                     "TrainOptions; train.noise: the noise trained under")
      .def_readwrite("dataset", &PyCheckpoint::dataset)
      .def_readwrite("extra", &PyCheckpoint::extra, "more metadata, e.g. a fine-tuning report")
      .def_property(
          "epochs_done", [](const PyCheckpoint& c) { return c.state.epochs_done; },
          [](PyCheckpoint& c, int e) { c.state.epochs_done = e; })
      .def_property_readonly("optimizer_step",
                             [](const PyCheckpoint& c) { return c.state.optimizer.step; })
      .def(
          "save",
          [](const PyCheckpoint& c, const std::string& path) {
            io::save_checkpoint(path, c.to_io());
          },
          pyb::arg("path"), "write atomically (the file appears whole or not at all)")
      .def("copy", [](const PyCheckpoint& c) {
        PyCheckpoint out = c;
        out.net = std::make_shared<Network>(*c.net);
        return out;
      });
  m.def(
      "load_checkpoint",
      [](const std::string& path) { return PyCheckpoint::from_io(io::load_checkpoint(path)); },
      pyb::arg("path"), "read and check a checkpoint; gift.InputError names the file and problem");
  m.def(
      "save_checkpoint",
      [](const std::string& path, const PyCheckpoint& c) { io::save_checkpoint(path, c.to_io()); },
      pyb::arg("path"), pyb::arg("checkpoint"));
  m.def(
      "new_checkpoint",
      [](const Architecture& arch, const TrainOptions& options, const std::string& dataset) {
        arch.validate();
        PyCheckpoint c;
        c.net = std::make_shared<Network>(arch);
        c.net->init(options.seed);
        c.train = options;
        // As `gift train`: the noise flags build a model for every layer (zeros when none).
        if (c.train.noise.layers.empty()) c.train.noise = NoiseModel::none(arch.num_layers());
        c.train.validate(arch);
        c.dataset = dataset;
        return c;
      },
      pyb::arg("arch"), pyb::arg("options"), pyb::arg("dataset") = "mnist",
      "a fresh network initialised from options.seed, as gift train starts one");
}

}  // namespace gift::py

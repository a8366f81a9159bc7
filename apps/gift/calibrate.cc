// gift calibrate: programs a network on a device and estimates the device's noise in situ from
// the lab's images (those gift finetune calibrates on with the same --seed).
#include <cstdio>
#include <memory>
#include <string>

#include "common.h"
#include "gift/core/error.h"
#include "gift/insitu/calibration.h"
#include "gift/insitu/lab_data.h"
#include "gift/insitu/report_json.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"
#include "gift/train/loss.h"

namespace gift::cli {
namespace {

// The lab's images of the test split: lab_split by `seed`, as finetune draws its --calib-size
// calibration set. Calibration sends the first K, which do not depend on the lab's size (a
// permutation of the test split by the seed), so `gift calibrate --calib-inputs K --seed S`
// measures on the very images `gift finetune --seed S` calibrates on (any --calib-size >= K).
data::Dataset lab_images(const data::Dataset& test, size_t k, uint64_t seed) {
  try {
    return lab_split(test, k, seed).calib;
  } catch (const InputError& e) {
    throw InputError(std::string("--calib-inputs: ") + e.what());
  }
}

struct CalibrateFlags {
  std::string checkpoint, json_out;
  DataFlags data;
  DeviceFlags device;
  CalibrationOptions calib;
  std::string calib_sites;  // --calib-sites
  uint64_t seed = 1;
  int threads = 0;
};

void run_calibrate(CalibrateFlags& f) {
  if (!f.json_out.empty()) io::prepare_output(f.json_out);
  const io::Checkpoint ckpt = io::load_checkpoint(f.checkpoint);
  if (f.data.dataset.empty()) f.data.dataset = ckpt.dataset;
  const data::Dataset test = f.data.load(data::Split::kTest);
  check_labelled_data(ckpt.net.arch(), test.images, test.labels, "test set");
  f.device.threads = f.threads;
  std::unique_ptr<Device> device = f.device.make(ckpt.net.arch());
  apply_calib_sites(f.calib_sites, f.calib);
  const CalibrationOptions co = calibration_options(f.calib, f.seed, f.threads);
  const data::Dataset set = lab_images(test, static_cast<size_t>(co.inputs), f.seed);
  const Calibration c = calibrate(*device, ckpt.net, set.images, co, ckpt.train.noise);
  std::printf("calibration of %s on %s (%d inputs x %d passes)\n", f.checkpoint.c_str(),
              describe_device(f.device, *device, ckpt.net.num_layers()).c_str(), co.inputs,
              co.repeats);
  std::printf("%s", c.report().c_str());
  std::printf("estimate: %s\n", c.estimate().describe().c_str());
  if (!f.json_out.empty()) {
    io::write_file_atomic(f.json_out, calibration_to_json(c).dump(2) + "\n");
    std::printf("wrote %s\n", f.json_out.c_str());
  }
}

}  // namespace

void add_calibrate(CLI::App& app) {
  auto f = std::make_shared<CalibrateFlags>();
  CLI::App* cmd = app.add_subcommand("calibrate", "estimate a device's noise in situ");
  cmd->add_option("--checkpoint", f->checkpoint, "the network to program")->required();
  f->data.add(*cmd);
  f->data.dataset.clear();
  f->device.add(*cmd);
  cmd->add_option("--calib-inputs", f->calib.inputs,
                  "calibration: distinct inputs K, the lab's images of the test split: the K "
                  "that finetune with the same --seed calibrates on");
  cmd->add_option("--calib-repeats", f->calib.repeats, "calibration: passes R of each input");
  add_calib_sites(*cmd, f->calib_sites);
  add_calib_tunables(*cmd, f->calib);
  add_calib_bootstrap(*cmd, f->calib);
  cmd->add_option("--seed", f->seed,
                  "seed of the input choice (finetune's lab split) and the bootstrap");
  cmd->add_option("--threads", f->threads, "threads (0 = all cores)");
  cmd->add_option("--json", f->json_out, "write the estimate as JSON to this file");
  cmd->callback([f] { run_calibrate(*f); });
}

}  // namespace gift::cli

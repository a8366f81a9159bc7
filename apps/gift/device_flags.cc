#include <sstream>

#include "common.h"
#include "gift/core/error.h"
#include "gift/insitu/simulated_device.h"

namespace gift::cli {

void DeviceFlags::add(CLI::App& app) {
  noise.add(app, "device", "the device's TRUE per-pass noise, hidden from the methods");
  app.add_option("--gain-std", gain_std, "device: static weight gain error std");
  app.add_option("--weight-bits", weight_bits, "device: weight resolution in bits (0 = continuous)");
  app.add_option("--device-seed", seed, "device: seed of its fixed errors and noise draws");
  app.add_flag("--no-taps", no_taps, "device: expose only the final output, not each layer's sums");
}

std::unique_ptr<Device> DeviceFlags::make(const Architecture& arch) const {
  SimulatedDeviceOptions o;
  o.noise = noise.build(arch.num_layers(), "device");
  o.imperfections = {gain_std, weight_bits};
  o.seed = seed;
  o.taps = !no_taps;
  o.threads = threads;
  return std::make_unique<SimulatedDevice>(arch, o);
}

}  // namespace gift::cli

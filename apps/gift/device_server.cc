// gift device-server: the reference server of the external-device protocol
// (docs/device-protocol.md), serving a SimulatedDevice on stdin/stdout. Its stdout is the
// protocol channel, so everything else it prints goes to stderr.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "common.h"
#include "gift/core/error.h"
#include "gift/insitu/protocol.h"
#include "gift/insitu/simulated_device.h"
#include "gift/io/checkpoint.h"

namespace gift::cli {
namespace {

struct DeviceServerFlags {
  std::string arch = kDefaultArchitecture;
  std::string activation = "relu";
  double w_max = 1.0;
  std::string chain = to_string(Chain::kPhysical);
  std::string checkpoint;
  NoiseFlags noise;
  ImperfectionFlags imperfections;
  uint64_t device_seed = 1;
  bool no_taps = false;
  int threads = 0;
};

void run_device_server(const DeviceServerFlags& f) {
  // Keep the protocol channel on a private descriptor and point fd 1 at stderr, so that
  // nothing printed by accident can corrupt the stream.
  std::fflush(stdout);
  const int channel = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  if (channel < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
    throw InputError(std::string("device-server: cannot set up stdout: ") + std::strerror(errno));
  }
  const Architecture arch = f.checkpoint.empty()
                                ? Architecture::from_string(f.arch, parse_activation(f.activation),
                                                            f.w_max, parse_chain(f.chain))
                                : io::load_checkpoint(f.checkpoint).net.arch();
  SimulatedDeviceOptions o;
  o.noise = f.noise.build(arch.num_layers(), "");
  o.imperfections = f.imperfections.build();
  o.seed = f.device_seed;
  o.taps = !f.no_taps;
  o.threads = f.threads;
  SimulatedDevice device(arch, o);
  const int rc = protocol::serve_device(device, STDIN_FILENO, channel);
  close(channel);
  if (rc != 0) throw InputError("device-server: the client closed the channel without BYE");
}

}  // namespace

void add_device_server(CLI::App& app) {
  auto f = std::make_shared<DeviceServerFlags>();
  CLI::App* cmd =
      app.add_subcommand("device-server",
                         "serve a simulated chip on stdin/stdout with the external-device protocol "
                         "(docs/device-protocol.md)");
  CLI::Option* arch =
      cmd->add_option("--arch", f->arch, "layer widths, input to classes, e.g. 784-256-10");
  CLI::Option* act = cmd->add_option("--activation", f->activation,
                                     "hidden activation: relu, sigmoid, tanh, linear");
  CLI::Option* w_max = cmd->add_option("--w-max", f->w_max, "programmable weight range");
  CLI::Option* chain = cmd->add_option("--chain", f->chain, "signal chain: physical or legacy");
  cmd->add_option("--checkpoint", f->checkpoint, "take the architecture from this checkpoint")
      ->excludes(arch)
      ->excludes(act)
      ->excludes(w_max)
      ->excludes(chain);
  f->noise.add(*cmd, "", "the chip's true per-pass noise");
  f->imperfections.add(*cmd, "the chip's ");
  cmd->add_option("--device-seed", f->device_seed, "seed of the chip's static errors and noise");
  cmd->add_flag("--no-taps", f->no_taps, "expose only the final output, not every layer's sum");
  cmd->add_option("--threads", f->threads, "threads (0 = all cores; never changes a result)");
  cmd->callback([f] { run_device_server(*f); });
}

}  // namespace gift::cli

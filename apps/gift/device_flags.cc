#include <wordexp.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "common.h"
#include "gift/core/error.h"
#include "gift/insitu/external_device.h"
#include "gift/insitu/simulated_device.h"

namespace gift::cli {
namespace {

// Splits a command line into words as the shell would (quotes, escapes), without running
// a shell and refusing command substitution.
std::vector<std::string> split_command(const std::string& command) {
  wordexp_t w;
  const int rc = wordexp(command.c_str(), &w, WRDE_NOCMD | WRDE_UNDEF);
  if (rc != 0) {
    if (rc == WRDE_NOSPACE) wordfree(&w);
    const std::string shown = command.size() <= 100 ? command : command.substr(0, 100) + "...";
    throw InputError("--device-command: cannot split '" + shown +
                     "' into words (unbalanced quotes, $(...) or an undefined variable)");
  }
  std::vector<std::string> argv(w.we_wordv, w.we_wordv + w.we_wordc);
  wordfree(&w);
  if (argv.empty()) throw InputError("--device-command: empty command");
  return argv;
}

}  // namespace

void DeviceFlags::add(CLI::App& app) {
  noise.add(app, "device", "the device's TRUE per-pass noise, hidden from the methods");
  imperfections.add(app, "device: ");
  app.add_option("--device-seed", seed, "device: seed of its fixed errors and noise draws");
  app.add_flag("--no-taps", no_taps, "device: expose only the final output, not each layer's sums");
  app.add_option("--device-command", command,
                 "an external device: a command (split into words like a shell would) that speaks "
                 "docs/device-protocol.md, e.g. 'build/gift device-server --checkpoint M "
                 "--noise-sum-add 1'; replaces the simulated device options");
  const ExternalDeviceOptions defaults;
  std::ostringstream help;
  help << "external device: seconds each exchange with the server may take (request sent, whole "
          "reply read; default "
       << defaults.reply_timeout_s << ", and " << defaults.handshake_timeout_s
       << " for the first reply unless given); 0 = no limit";
  app.add_option("--device-timeout", timeout_s, help.str())
      ->check([](const std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) || v < 0) {
          const std::string shown = text.size() <= 100 ? text : text.substr(0, 100) + "...";
          return "expected a number of seconds >= 0 (0 = no limit), found '" + shown + "'";
        }
        return "";
      });
  app_ = &app;
}

std::unique_ptr<Device> DeviceFlags::make(const Architecture& arch) const {
  if (!command.empty()) {
    std::vector<std::string> simulated = NoiseFlags::option_names("device");
    for (const std::string& opt : ImperfectionFlags::option_names()) simulated.push_back(opt);
    simulated.insert(simulated.end(), {"--device-seed", "--no-taps"});
    for (const std::string& opt : simulated) {
      if (app_ && app_->count(opt) > 0) {
        throw InputError(opt +
                         " describes a simulated device; with --device-command "
                         "the external server decides it");
      }
    }
    ExternalDeviceOptions o;
    if (app_ && app_->count("--device-timeout") > 0) {
      o.handshake_timeout_s = o.reply_timeout_s = timeout_s;
    }
    auto device = std::make_unique<ExternalDevice>(split_command(command), o);
    const Architecture& a = device->info().arch;
    if (a.sizes != arch.sizes || a.activations != arch.activations) {
      std::string found = a.describe();
      if (found.size() > 100) found = found.substr(0, 100) + "...";
      throw InputError("--device-command: the device implements " + found + ", the network is " +
                       arch.describe());
    }
    return device;
  }
  if (app_ && app_->count("--device-timeout") > 0) {
    throw InputError("--device-timeout applies to an external device (--device-command)");
  }
  SimulatedDeviceOptions o;
  o.noise = noise.build(arch.num_layers(), "device");
  o.imperfections = imperfections.build();
  o.seed = seed;
  o.taps = !no_taps;
  o.threads = threads;
  return std::make_unique<SimulatedDevice>(arch, o);
}

}  // namespace gift::cli

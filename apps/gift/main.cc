// gift: the command-line tool. Every error prints one line and exits non-zero.
#include <cstdio>
#include <exception>
#include <new>

#include "common.h"
#include "gift/core/error.h"
#include "gift/core/interrupt.h"
#include "gift/core/version.h"

int main(int argc, char** argv) {
  gift::install_stop_handlers();
  CLI::App app{"gift: optical neural networks trained in silico, fine-tuned in situ"};
  app.set_version_flag("--version", gift::version());
  app.set_config("--config", "", "read options from a TOML/INI file ([train], [eval] sections)");
  app.require_subcommand(1);
  gift::cli::add_train(app);
  gift::cli::add_eval(app);
  gift::cli::add_calibrate(app);
  gift::cli::add_finetune(app);
  gift::cli::add_device_server(app);
  gift::cli::add_sweep(app);
  gift::cli::add_reproduce(app);
  gift::cli::add_report(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "gift: error: %s\n", e.what());
    return 2;
  } catch (const gift::InputError& e) {
    std::fprintf(stderr, "gift: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "gift: error: out of memory (the data, network or grid asked for is too large for this machine)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gift: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}

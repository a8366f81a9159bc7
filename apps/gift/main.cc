// gift: the command-line tool. Every error prints one line and exits non-zero.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <exception>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include "common.h"
#include "gift/core/error.h"
#include "gift/core/interrupt.h"
#include "gift/core/threads.h"
#include "gift/core/version.h"

namespace {

// One rule for every option of every subcommand, so no option can forget it: unsigned
// options take only non-negative integers (CLI11 would wrap "-1" to 2^64-1), and --threads
// and --jobs lie in [0, kMaxThreads].
void check_numeric_options(CLI::App& app) {
  const CLI::Validator non_negative_integer(
      [](std::string& s) -> std::string {
        const bool digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
        return digits ? std::string() : "expected a non-negative integer, found '" + s + "'";
      },
      "");  // no description: the help shows the type alone ("N", below), not "UINT:UINT"
  for (CLI::Option* opt : app.get_options()) {
    if (opt->get_type_name() == "UINT") opt->check(non_negative_integer);
    if (opt->get_name() == "--threads" || opt->get_name() == "--jobs") {
      opt->check(CLI::Range(0, gift::kMaxThreads));
    }
  }
  for (CLI::App* sub : app.get_subcommands({})) check_numeric_options(*sub);
}

// The TOML/INI file of --config is read by CLI11, which would block on a FIFO and read
// /dev/zero for ever: only a regular file of at most 1 MiB is accepted. Returns "" or why not.
std::string check_config_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "";  // missing: reported by whoever reads it
  if (!S_ISREG(st.st_mode)) return "--config: '" + path + "' is not a regular file";
  if (st.st_size > (1 << 20)) return "--config: '" + path + "' is larger than 1 MiB";
  // A JSON file here is most likely a sweep's study (given with --study since issue 10), which
  // CLI11 would otherwise read as TOML and ignore in silence.
  std::ifstream in(path);
  char c = 0;
  while (in.get(c) && std::isspace(static_cast<unsigned char>(c))) {
  }
  if (in && c == '{') {
    return "--config: '" + path +
           "' is JSON; --config takes a TOML/INI file of options (a sweep's JSON study is given "
           "with --study FILE)";
  }
  return "";
}

// Levenshtein distance, for "did you mean" on a mistyped subcommand.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The first argument when it is neither an option nor a subcommand (CLI11 would say only "A
// subcommand is required"): why, with the nearest subcommand and the list. "" if it is fine.
std::string check_subcommand(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-' || argv[1][0] == '\0') return "";
  const std::string word = argv[1];
  std::string names, nearest;
  size_t best = 3;  // suggest only within two edits
  for (const CLI::App* sub : app.get_subcommands({})) {
    const std::string& name = sub->get_name();
    if (name == word) return "";
    names += (names.empty() ? "" : ", ") + name;
    const size_t d = edit_distance(word, name);
    if (d < best) best = d, nearest = name;
  }
  return "unknown command '" + word + "'" +
         (nearest.empty() ? "" : " (did you mean '" + nearest + "'?)") + "; the commands are " +
         names + " (gift --help)";
}

// The option of `app` that CLI11 would set from config key `name`, or nullptr.
const CLI::Option* config_option(const CLI::App& app, const std::string& name) {
  for (const std::string& form : {"--" + name, "-" + name, name}) {
    if (const CLI::Option* opt = app.get_option_no_throw(form)) return opt;
  }
  return nullptr;
}

// Every key of the --config file must be an option of the subcommand its section names ([train],
// [eval], ...): CLI11 drops any other key in silence, so a mistyped key, or one outside its
// section, would leave its option at the default. Returns "" or why not. A file that CLI11
// cannot read is left to CLI11's own error.
std::string check_config_keys(const CLI::App& app, const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::vector<CLI::ConfigItem> items;
  try {
    items = app.get_config_formatter_base()->from_config(in);
  } catch (const CLI::Error&) {
    return "";
  }
  const std::string file = "--config '" + path + "': ";
  for (const CLI::ConfigItem& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // a section's start or end
    const CLI::App* sub = &app;
    std::string section;
    for (const std::string& parent : item.parents) {
      section += (section.empty() ? "" : ".") + parent;
      try {
        sub = sub->get_subcommand(parent);
      } catch (const CLI::OptionNotFound&) {
        return file + "section [" + section + "] names no subcommand of gift (key '" + item.name +
               "')";
      }
    }
    if (config_option(*sub, item.name)) continue;
    if (sub != &app) {
      return file + "'" + item.name + "' in section [" + section + "] is not an option of gift " +
             sub->get_name();
    }
    std::string owners;
    for (const CLI::App* cmd : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (config_option(*cmd, item.name))
        owners += (owners.empty() ? "[" : ", [") + cmd->get_name() + "]";
    }
    return file + "key '" + item.name + "' is outside any section" +
           (owners.empty() ? " and is an option of no subcommand"
                           : "; put it in the section of its subcommand: " + owners);
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  gift::install_stop_handlers();
  CLI::App app{"gift: optical neural networks trained in silico, fine-tuned in situ"};
  app.set_version_flag("--version", gift::version());
  app.set_config("--config", "", "read options from a TOML/INI file ([train], [eval] sections)");
  app.require_subcommand(1);
  // --help shows every option's default ("[10]") and plain types ("N", not "UINT:UINT").
  app.option_defaults()->always_capture_default();
  app.get_formatter()->label("UINT", "N");
  // A key no option takes is an error (check_config_keys says which); set before the
  // subcommands are added, which inherit it.
  app.allow_config_extras(CLI::config_extras_mode::error);
  gift::cli::add_train(app);
  gift::cli::add_eval(app);
  gift::cli::add_calibrate(app);
  gift::cli::add_finetune(app);
  gift::cli::add_device_server(app);
  gift::cli::add_sweep(app);
  gift::cli::add_reproduce(app);
  gift::cli::add_frontier(app);
  gift::cli::add_report(app);
  check_numeric_options(app);
  if (const std::string problem = check_subcommand(app, argc, argv); !problem.empty()) {
    std::fprintf(stderr, "gift: error: %s\n", problem.c_str());
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string path;
    if (arg == "--config" && i + 1 < argc) path = argv[i + 1];
    if (arg.rfind("--config=", 0) == 0) path = arg.substr(9);
    if (path.empty()) continue;
    std::string problem = check_config_file(path);
    if (problem.empty()) problem = check_config_keys(app, path);
    if (!problem.empty()) {
      std::fprintf(stderr, "gift: error: %s\n", problem.c_str());
      return 2;
    }
  }
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
    std::fprintf(stderr,
                 "gift: error: out of memory (the data, network or grid asked for is too large for "
                 "this machine)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gift: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}

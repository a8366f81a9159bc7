#include "common.h"

#include <unistd.h>

#include <cstdio>

#include "gift/core/error.h"
#include "gift/core/parse.h"

namespace gift::cli {

void NoiseFlags::add(CLI::App& app, const std::string& prefix, const std::string& role) {
  const std::vector<std::string> names = option_names(prefix);
  const std::string per =
      " (" + role + "; one std for every layer, or a comma-separated list, one per layer)";
  for (const NoiseSiteInfo& site : noise_sites()) {
    const int s = site_index(site.site);
    app.add_option(names[s], stds[s], site.flag_help + per);
  }
  app.add_option(names.back(), output_clip,
                 "output saturation: clip every layer's output to +-C (0 = none)");
}

std::vector<std::string> NoiseFlags::option_names(const std::string& prefix) {
  const std::string p = prefix.empty() ? "--noise-" : "--" + prefix + "-noise-";
  std::vector<std::string> names;
  for (const NoiseSiteInfo& site : noise_sites()) names.push_back(p + site.flag);
  names.push_back("--" + (prefix.empty() ? std::string() : prefix + "-") + "output-clip");
  return names;
}

NoiseModel NoiseFlags::build(size_t num_layers, const std::string& prefix) const {
  const std::vector<std::string> names = option_names(prefix);
  NoiseModel m = NoiseModel::none(num_layers);
  for (const NoiseSiteInfo& site : noise_sites()) {
    const int s = site_index(site.site);
    const std::vector<double> v = parse_per_layer(stds[s], num_layers, names[s]);
    for (size_t l = 0; l < num_layers; ++l) m.layers[l].*site.member = v[l];
  }
  m.output_clip = output_clip;
  m.validate(num_layers, "noise options");
  return m;
}

void DataFlags::add(CLI::App& app) {
  app.add_option("--dataset", dataset, "data set: mnist or fashion-mnist")
      ->check(CLI::IsMember({"mnist", "fashion-mnist"}));
  app.add_option("--data-dir", dir, "directory holding the IDX files (default data/<dataset>)");
  app.add_option("--train-limit", train_limit, "use only the first N training images (0 = all)");
  app.add_option("--test-limit", test_limit, "use only the first N test images (0 = all)");
}

data::Dataset DataFlags::load(data::Split split) const {
  data::Dataset d = data::load_dataset(dataset, dir.empty() ? "data/" + dataset : dir, split);
  const size_t limit = split == data::Split::kTrain ? train_limit : test_limit;
  if (limit > 0 && limit < d.size()) d = data::subset(d, 0, limit);
  return d;
}

Progress::Progress(std::string label)
    : label_(std::move(label)),
      enabled_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void Progress::update(size_t done, size_t total, const std::string& extra) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
  const int width = 30, filled = static_cast<int>(frac * width);
  std::fprintf(stderr, "\r%s [%s%s] %3.0f%% %s eta %.0fs  ", label_.c_str(),
               std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(width - filled), ' ').c_str(), 100 * frac,
               extra.c_str(), eta);
  std::fflush(stderr);
}

void Progress::finish() {
  if (enabled_) std::fprintf(stderr, "\r\033[K");
}

}  // namespace gift::cli

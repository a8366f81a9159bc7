#include <algorithm>
#include <cmath>

#include "config_values.h"
#include "gift/core/error.h"
#include "gift/experiment/frontier.h"
#include "gift/experiment/number_text.h"
#include "gift/io/atomic_file.h"
#include "gift/io/json.h"

// The report of a frontier: its Markdown table and its figures.
namespace gift::experiment {

using nlohmann::json;
using namespace detail;

namespace {

// A count with thousands separators: 300000 -> "300,000" (means over seeds are rounded).
std::string count_text(double x) {
  std::string digits = fixed_text(std::round(x), 0);
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

// "35.08 [34.70, 35.47]" (`unit` after the mean: "35.08% [34.70, 35.47]").
std::string percent_ci(const MeanCI& m, const std::string& unit = "") {
  if (m.n == 0) return "-";
  return fixed_text(100 * m.mean, 2) + unit + " [" + fixed_text(100 * m.low, 2) + ", " +
         fixed_text(100 * m.high, 2) + "]";
}

std::string recovery_text(const MeanCI& m) {
  if (m.n == 0) return "-";
  if (m.n == 1) return fixed_text(m.mean, 2);
  return fixed_text(m.mean, 2) + " [" + fixed_text(m.low, 2) + ", " + fixed_text(m.high, 2) + "]";
}

// "true noise sum_add=3, 6-bit weights (device seed 7)"; without the seed if not `seed`.
std::string device_text(const FrontierConfig& c, bool seed = true) {
  std::string s = "true noise " + (c.device_noise.any() ? c.device_noise.describe() : "none");
  if (c.imperfections.gain_std > 0) s += ", gain error " + number_text(c.imperfections.gain_std);
  if (c.imperfections.weight_bits > 0) {
    s += ", " + std::to_string(c.imperfections.weight_bits) + "-bit weights";
    if (c.imperfections.dac == DacScale::kFixed) s += " (fixed DAC)";
  }
  if (c.imperfections.crosstalk > 0) s += ", crosstalk " + number_text(c.imperfections.crosstalk);
  if (c.imperfections.row_gain_std > 0) {
    s += ", row gain error " + number_text(c.imperfections.row_gain_std);
  }
  if (c.imperfections.col_gain_std > 0) {
    s += ", column gain error " + number_text(c.imperfections.col_gain_std);
  }
  if (!c.taps) s += ", no taps";
  return seed ? s + " (device seed " + std::to_string(c.device_seed) + ")" : s;
}

std::string seeds_text(const std::vector<uint64_t>& seeds) {
  std::string s;
  for (uint64_t x : seeds) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return std::to_string(seeds.size()) + (seeds.size() == 1 ? " seed (" : " seeds (") + s + ")";
}

// What a frontier figure draws: x is gradients or passes spent, y recovery (or accuracy % when
// recovery is undefined for every point), with error bars over seeds when there are several.
struct FrontierAxes {
  bool by_gradients = true, any_recovery = false, bars = false;
  std::string x_name;
};

// The data blocks of a frontier figure, one per method, and the y range they need (*y_lo,
// *y_hi widened from the start and the oracle).
std::string frontier_data(const FrontierTable& t, const std::vector<std::string>& methods,
                          const FrontierAxes& ax, const std::string& name, double* y_lo,
                          double* y_hi) {
  const bool by_gradients = ax.by_gradients, any_recovery = ax.any_recovery, bars = ax.bars;
  std::string data = "# " + name + ": per method, one line per rung: " + ax.x_name +
                     " (mean over seeds), " + (any_recovery ? "recovery" : "accuracy %") +
                     " (mean, 95% low, 95% high), budget gradients, budget passes; sorted by x; "
                     "rungs where nothing was spent are left out (log x)\n";
  *y_lo = any_recovery ? 0 : 100 * t.start.mean;
  *y_hi = any_recovery ? 1 : 100 * t.oracle.mean;
  for (const std::string& m : methods) {
    data += "# method " + m + "\n";
    std::vector<const FrontierPoint*> pts;
    for (const FrontierPoint& p : t.points) {
      const double x = by_gradients ? p.sample_gradients : p.device_passes;
      const MeanCI& y = any_recovery ? p.recovery : p.accuracy;
      if (p.method == m && x > 0 && y.n > 0) pts.push_back(&p);
    }
    std::stable_sort(pts.begin(), pts.end(), [&](const FrontierPoint* a, const FrontierPoint* b) {
      return by_gradients ? a->sample_gradients < b->sample_gradients
                          : a->device_passes < b->device_passes;
    });
    for (const FrontierPoint* p : pts) {
      const double scale = any_recovery ? 1 : 100;
      const MeanCI& y = any_recovery ? p->recovery : p->accuracy;
      data += number_text(by_gradients ? p->sample_gradients : p->device_passes) + " " +
              number_text(scale * y.mean) + " " + number_text(scale * y.low) + " " +
              number_text(scale * y.high) + " " + std::to_string(p->budget.gradients) + " " +
              std::to_string(p->budget.passes) + "\n";
      *y_lo = std::min(*y_lo, scale * (bars ? y.low : y.mean));
      *y_hi = std::max(*y_hi, scale * (bars ? y.high : y.mean));
    }
    if (pts.empty()) data += "# (no point)\n";
    data += "\n\n";
  }
  return data;
}

// The gnuplot commands of a frontier figure over the data blocks of `dat`.
std::string frontier_commands(const FrontierTable& t, const FrontierConfig& c,
                              const NoiseModel& assumed, const std::vector<std::string>& methods,
                              const FrontierAxes& ax, const std::string& dat, double y_lo,
                              double y_hi) {
  const bool by_gradients = ax.by_gradients, any_recovery = ax.any_recovery, bars = ax.bars;
  const std::string& x_name = ax.x_name;
  const double pad = 0.08 * std::max(y_hi - y_lo, any_recovery ? 1.0 : 1.0);
  std::string cmd;
  const std::string dataset = t.dataset.empty() ? c.dataset : t.dataset;
  cmd += "set title " +
         gp_lines({(dataset.empty() ? "" : dataset + ", ") + "cost-recovery frontier: " +
                       (any_recovery ? "recovery" : "device test accuracy") + " against " + x_name,
                   "start trained at " + assumed.describe() + "; device " + device_text(c, false) +
                       "; " +
                       (t.seeds == 1 ? "1 seed"
                                     : "mean over " + std::to_string(t.seeds) + " seeds" +
                                           ", bars: 95% interval")}) +
         "\n";
  cmd += "set xlabel " +
         gp_quote(x_name + (by_gradients ? " (log scale)"
                                         : " (samples through the chip, "
                                           "calibration included; log scale)")) +
         "\n";
  cmd += "set ylabel " +
         gp_quote(any_recovery ? "recovery (fraction of the gap from the start to the oracle)"
                               : "device test accuracy (%; recovery undefined: the oracle does "
                                 "not beat the start)") +
         "\n";
  cmd += "set logscale x\nset format x '%.0s%c'\nset mxtics 10\n";
  cmd += "set offsets graph 0.08, graph 0.08, 0, 0\n";
  cmd += "set yrange [" + number_text(y_lo - pad) + ":" + number_text(y_hi + pad) + "]\n";
  cmd += "set key outside right top vertical Left reverse samplen 3 spacing 1.3\n";
  cmd += "set grid xtics ytics mxtics\n";
  const double y_start = any_recovery ? 0 : 100 * t.start.mean;
  const double y_oracle = any_recovery ? 1 : 100 * t.oracle.mean;
  cmd += "set arrow 1 from graph 0, first " + number_text(y_oracle) + " to graph 1, first " +
         number_text(y_oracle) + " nohead dt 2 lw 2 lc rgb '#000000'\n";
  cmd +=
      "set label 1 " +
      gp_quote("oracle (trained at the true noise): " + fixed_text(100 * t.oracle.mean, 2) + "%") +
      " at graph 0.01, first " + number_text(y_oracle) + " offset 0, 0.7 tc rgb '#000000'\n";
  cmd += "set arrow 2 from graph 0, first " + number_text(y_start) + " to graph 1, first " +
         number_text(y_start) + " nohead dt 3 lw 2 lc rgb '#6e6e6e'\n";
  cmd += "set label 2 " +
         gp_quote("start (no fine-tuning): " + fixed_text(100 * t.start.mean, 2) + "%") +
         " at graph 0.01, first " + number_text(y_start) + " offset 0, -0.9 tc rgb '#6e6e6e'\n";
  std::vector<std::string> parts;
  for (size_t i = 0; i < methods.size(); ++i) {
    const MethodStyle st = method_style(methods[i]);
    const std::string block = dat + " index " + std::to_string(i);
    if (bars) {
      parts.push_back(block + " using 1:2:3:4 with yerrorbars lc rgb " + gp_quote(st.color) +
                      " pt 0 notitle");
    }
    parts.push_back(block + " using 1:2 with linespoints lc rgb " + gp_quote(st.color) +
                    " lw 2 pt " + std::to_string(st.point) + " ps 1.4 title " +
                    gp_quote(methods[i]));
  }
  if (parts.empty()) {  // nothing measured yet: an empty frame with the marks
    parts.push_back("1/0 notitle");
    cmd += "set xrange [1:10]\n";
  }
  return cmd + gp_plot(parts);
}

}  // namespace

std::string frontier_markdown(const FrontierTable& t, const FrontierConfig& c,
                              const NoiseModel& assumed) {
  std::string s = "# Cost-recovery frontier\n\n";
  s += (t.dataset.empty() ? c.dataset : t.dataset) + "; start `" + c.checkpoint + "` (trained at " +
       assumed.describe() + "); oracle `" + c.oracle +
       "` (trained at the true noise); device: " + device_text(c) + ".\n";
  s += seeds_text(c.seeds) + "; " + std::to_string(c.calib_size) +
       " labelled images of the test split are the lab's (per seed), accuracies are over the rest "
       "of it and " +
       std::to_string(c.eval_repeats) + " device passes; fit data " +
       to_string(c.finetune.fit_data) + ".\n\n";
  s += "Start (no fine-tuning): " + percent_ci(t.start, "%") +
       ". Oracle: " + percent_ci(t.oracle, "%") +
       ". Recovery = (after - before) / (oracle - before): 0 is the start, 1 the oracle.\n\n";
  s += "| method | budget: gradients | budget: passes | gradients spent | passes spent | "
       "accuracy (%) | recovery | accepted | budget-limited | seconds |\n";
  s += "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  const std::string dash = "-";
  const bool gap =
      t.start.n > 0 && t.oracle.n > 0 && t.oracle.mean - t.start.mean >= kMinRecoveryGap;
  s += "| start (none) | " + dash + " | " + dash + " | 0 | 0 | " + percent_ci(t.start) + " | " +
       (gap ? "0" : dash) + " | " + dash + " | " + dash + " | " + dash + " |\n";
  for (const FrontierPoint& p : t.points) {
    const std::string of = "/" + std::to_string(p.seeds);
    s += "| " + p.method + " | " + count_text(static_cast<double>(p.budget.gradients)) + " | " +
         count_text(static_cast<double>(p.budget.passes)) + " | " + count_text(p.sample_gradients) +
         " | " + count_text(p.device_passes) + " | " + percent_ci(p.accuracy) + " | " +
         recovery_text(p.recovery) + " | " + std::to_string(p.accepted) + of + " | " +
         std::to_string(p.budget_limited) + of + " | " + fixed_text(p.seconds, 1) + " |\n";
  }
  s += "| oracle | " + dash + " | " + dash + " | " + dash + " | " + dash + " | " +
       percent_ci(t.oracle) + " | " + (gap ? "1" : dash) + " | " + dash + " | " + dash + " | " +
       dash + " |\n\n";
  s += "Spent: means over seeds of what each method used (gradients: per-sample gradient "
       "evaluations; passes: samples sent through the device, calibration and scoring included; "
       "the test accuracy's passes are not a method's cost). Accuracy: mean with a 95% interval "
       "(over seeds; with one seed over noise draws). Recovery: mean over the seeds where the "
       "oracle beats the start by at least " +
       fixed_text(100 * kMinRecoveryGap, 0) +
       " point, with a t interval over seeds. Accepted: seeds whose result passed the acceptance "
       "test (exact, on scoring images no choice saw); budget-limited: seeds where a budget cut "
       "the method's plan.\n";
  return s;
}

std::vector<Figure> frontier_figures(const FrontierTable& t, const FrontierConfig& c,
                                     const NoiseModel& assumed) {
  bool any_recovery = false;
  for (const FrontierPoint& p : t.points) any_recovery = any_recovery || p.recovery.n > 0;
  std::vector<std::string> methods;
  for (const FrontierPoint& p : t.points) {
    if (std::find(methods.begin(), methods.end(), p.method) == methods.end()) {
      methods.push_back(p.method);
    }
  }
  const bool bars = t.seeds > 1;
  std::vector<Figure> figures;
  for (const bool by_gradients : {true, false}) {
    FrontierAxes ax;
    ax.by_gradients = by_gradients;
    ax.any_recovery = any_recovery;
    ax.bars = bars;
    ax.x_name = by_gradients ? "per-sample gradients spent" : "device passes spent";
    Figure f;
    f.name = by_gradients ? "frontier-gradients" : "frontier-passes";
    double y_lo = 0, y_hi = 0;
    f.data = frontier_data(t, methods, ax, f.name, &y_lo, &y_hi);
    f.commands =
        frontier_commands(t, c, assumed, methods, ax, gp_quote(f.name + ".dat"), y_lo, y_hi);
    figures.push_back(std::move(f));
  }
  return figures;
}

std::vector<std::string> write_frontier_report(const std::string& dir, bool figures) {
  const std::string config_path = dir + "/config.json";
  const std::string rows_path = dir + "/frontier.jsonl";
  const json record = io::parse_json(io::read_file(config_path), config_path);
  if (!record.is_object() || !record.contains("frontier") || !record.contains("assumed")) {
    throw InputError(config_path + ": not the config of a gift frontier");
  }
  const FrontierConfig config = FrontierConfig::from_json(record.at("frontier"), config_path);
  const NoiseModel assumed = noise_of_json(record.at("assumed"), config_path + ": assumed");
  const std::vector<FrontierRow> rows = parse_frontier_rows(io::read_file(rows_path), rows_path);
  if (rows.empty()) throw InputError("'" + rows_path + "' holds no finished cell");
  const FrontierTable table = aggregate_frontier(rows, config);
  std::vector<std::string> written;
  io::write_file_atomic(dir + "/frontier.md", frontier_markdown(table, config, assumed));
  written.push_back(dir + "/frontier.md");
  if (!figures) return written;
  for (const std::string& p :
       render_figures(dir, frontier_figures(table, config, assumed), "frontier.gp",
                      "Figures of a gift frontier, written by `gift frontier`.")) {
    written.push_back(p);
  }
  return written;
}

}  // namespace gift::experiment

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "gift/core/error.h"
#include "gift/experiment/aggregate.h"
#include "gift/experiment/figures.h"
#include "gift/experiment/number_text.h"

namespace gift::experiment {
namespace {

// number_text and fixed_text (number_text.h), by their names here.
std::string shortest(double x) { return number_text(x); }
std::string fixed(double x, int decimals, bool sign = false) {
  return fixed_text(x, decimals, sign);
}

std::string legend_of(const std::string& method) {
  return method == "none" ? "none (baseline, trained at assumed)" : method;
}

// The x axis of a plot over levels: tics at the levels, log scale when they are all positive and
// span a factor of 10 or more, a margin on both sides.
std::string level_axis(const std::set<double>& levels) {
  const double lo = *levels.begin(), hi = *levels.rbegin();
  std::string s;
  if (lo > 0 && hi / lo >= 10) {
    s += "set logscale x\nset xrange [" + shortest(lo / 1.25) + ":" + shortest(hi * 1.25) + "]\n";
  } else {
    const double pad = hi > lo ? 0.05 * (hi - lo) : std::max(0.1 * lo, 0.1);
    s += "set xrange [" + shortest(lo - pad) + ":" + shortest(hi + pad) + "]\n";
  }
  s += "set xtics (";
  bool first = true;
  for (double v : levels) {
    s += (first ? "" : ", ") + gp_quote(level_label(v)) + " " + shortest(v);
    first = false;
  }
  return s + ")\n";
}

// "mean over N seeds", "mean over N-M seeds", or "1 seed".
std::string seeds_text(int lo, int hi) {
  if (hi == 1) return "1 seed";
  return "mean over " +
         (lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi)) + " seeds";
}

constexpr double kHeatmapScale = 2;  // % where the heat map's colour turns from linear to log

const char kTrueAxis[] = "true noise std (multiple of the grid pattern)";
const char kAssumedAxis[] = "assumed noise std at training (multiple of the grid pattern)";
const char kAccuracyAxis[] = "test accuracy on device (%)";
const char kPassesAxis[] = "device passes (samples)";
const char kRecoveryAxis[] = "recovery (fraction of the gap to the oracle)";

// A line of an accuracy figure: its legend, colour, line and point options, and its points
// (true level, accuracy).
struct Series {
  std::string title, color;
  std::string style;
  std::vector<std::pair<double, Interval>> points;
};

// What an accuracy figure draws from the rows of one (grid, assumed) panel.
struct AccuracyLines {
  std::vector<Series> series;
  std::set<double> levels;  // the true levels
  int seeds_lo = 1 << 30, seeds_hi = 0;
};

// The lines: one per method (its accuracy after fine-tuning), the start if no "none" row shows
// it, and the oracle; the last two from the first row of each true level (report order).
AccuracyLines accuracy_lines(const std::vector<const AggregateRow*>& rows) {
  AccuracyLines out;
  std::vector<Series>& series = out.series;
  std::map<double, const AggregateRow*> first;  // per true level
  bool has_none = false;
  for (const AggregateRow* r : rows) {
    auto it = std::find_if(series.begin(), series.end(),
                           [&](const Series& s) { return s.title == legend_of(r->method); });
    if (it == series.end()) {
      const MethodStyle st = method_style(r->method);
      series.push_back(
          {legend_of(r->method), st.color, "lw 2 pt " + std::to_string(st.point) + " ps 1.3", {}});
      it = series.end() - 1;
    }
    it->points.emplace_back(r->true_level, r->acc_after);
    first.emplace(r->true_level, r);
    out.levels.insert(r->true_level);
    out.seeds_lo = std::min(out.seeds_lo, r->seeds);
    out.seeds_hi = std::max(out.seeds_hi, r->seeds);
    has_none = has_none || r->method == "none";
  }
  if (!has_none) {
    Series start{"before fine-tuning (trained at assumed)", "#6e6e6e", "lw 2 dt 3 pt 4 ps 1.3", {}};
    for (const auto& [level, r] : first) start.points.emplace_back(level, r->acc_before);
    series.push_back(std::move(start));
  }
  Series oracle{"oracle (trained at the true noise)", "#000000", "lw 2 dt 2 pt 6 ps 1.3", {}};
  for (const auto& [level, r] : first) oracle.points.emplace_back(level, r->acc_oracle);
  series.push_back(std::move(oracle));
  return out;
}

// The plot command of the lines in the data blocks of `dat`: shaded 95% bands (error bars when
// not `bands`) first, under every line, then the lines.
std::string accuracy_plot(const std::string& dat, const std::vector<Series>& series, bool bands) {
  std::vector<std::string> parts;
  const auto block = [&](size_t i) { return dat + " index " + std::to_string(i); };
  for (size_t i = 0; i < series.size(); ++i) {
    const bool last = i + 1 == series.size();  // the oracle's band is lighter
    if (bands) {
      parts.push_back(block(i) + " using 1:3:4 with filledcurves fc rgb " +
                      gp_quote(series[i].color) + " fs transparent solid " +
                      (last ? "0.10" : "0.18") + " noborder notitle");
    } else {
      parts.push_back(block(i) + " using 1:2:3:4 with yerrorbars lc rgb " +
                      gp_quote(series[i].color) + " pt 0 notitle");
    }
  }
  for (size_t i = 0; i < series.size(); ++i) {
    parts.push_back(block(i) + " using 1:2 with linespoints lc rgb " + gp_quote(series[i].color) +
                    " " + series[i].style + " title " + gp_quote(series[i].title));
  }
  return gp_plot(parts);
}

Figure accuracy_figure(const std::string& grid, double assumed,
                       const std::vector<const AggregateRow*>& rows,
                       const std::string& dataset_prefix) {
  Figure f;
  f.name = "fig-accuracy-" + file_safe(grid) + "-a" + level_label(assumed);
  const AccuracyLines lines = accuracy_lines(rows);
  const int seeds_lo = lines.seeds_lo, seeds_hi = lines.seeds_hi;

  // Data blocks (gnuplot's `index`), one per line.
  f.data = "# " + f.name + ": true level, accuracy % (mean, 95% low, 95% high)\n";
  for (const Series& sr : lines.series) {
    f.data += "# " + sr.title + "\n";
    for (const auto& [x, m] : sr.points) {
      f.data += shortest(x) + " " + shortest(100 * m.mean) + " " + shortest(100 * m.low) + " " +
                shortest(100 * m.high) + "\n";
    }
    f.data += "\n\n";
  }

  const bool bands = lines.levels.size() >= 2;
  std::string& c = f.commands;
  c += "set title " +
       gp_lines({dataset_prefix + "grid " + grid + ", trained at assumed " + level_label(assumed) +
                     ": device test accuracy after fine-tuning",
                 "(" + seeds_text(seeds_lo, seeds_hi) + (bands ? "; shaded: " : "; bars: ") +
                     (seeds_hi == 1  ? "95% interval over noise draws)"
                      : seeds_lo > 1 ? "95% interval over seeds)"
                                     : "95% interval)")}) +
       "\n";
  c += "set xlabel " + gp_quote(kTrueAxis) + "\n";
  c += "set ylabel " + gp_quote(kAccuracyAxis) + "\n";
  c += level_axis(lines.levels);
  // The key below the plot leaves its full width to the data; accuracy never exceeds 100%.
  c += "set key outside below center horizontal maxcols 3 Left reverse samplen 3 width 2 "
       "spacing 1.2\n";
  c += "set grid\nset yrange [0<*:*<100]\n";
  c += accuracy_plot(gp_quote(f.name + ".dat"), lines.series, bands);
  return f;
}

Figure heatmap_figure(const std::string& grid, const std::vector<const AggregateRow*>& gift_rows,
                      const std::string& dataset_prefix) {
  Figure f;
  f.name = "fig-heatmap-" + file_safe(grid);
  std::set<double> assumed, truth;
  int seeds_lo = 1 << 30, seeds_hi = 0;
  double extent = 1;  // largest |relative improvement| in %, for a colour range symmetric about 0
  for (const AggregateRow* r : gift_rows) {
    assumed.insert(r->assumed_level);
    truth.insert(r->true_level);
    seeds_lo = std::min(seeds_lo, r->seeds);
    seeds_hi = std::max(seeds_hi, r->seeds);
    extent = std::max(extent, std::abs(100 * r->relative_improvement.mean));
  }
  const auto index_of = [](const std::set<double>& s, double v) {
    return static_cast<int>(std::distance(s.begin(), s.find(v)));
  };
  // Colour on an asinh scale (linear within a few %, logarithmic beyond), so that cells of a few
  // % stay distinguishable next to cells of +100%; the printed values are the plain means.
  const auto colour = [](double percent) { return std::asinh(percent / kHeatmapScale); };
  f.data = "# " + f.name + ": true index, assumed index, colour = asinh(improvement % / " +
           shortest(kHeatmapScale) +
           "), label, gift mean relative improvement (%), true, assumed\n";
  for (const AggregateRow* r : gift_rows) {
    const double v = 100 * r->relative_improvement.mean;
    if (r->relative_improvement.n == 0) continue;  // undefined: an empty cell
    f.data += std::to_string(index_of(truth, r->true_level)) + " " +
              std::to_string(index_of(assumed, r->assumed_level)) + " " + shortest(colour(v)) +
              " " + fixed(v, std::abs(v) >= 100 ? 0 : 1, true) + "% " + shortest(v) + " " +
              shortest(r->true_level) + " " + shortest(r->assumed_level) + "\n";
  }
  std::string cbtics;
  for (double t : {-1000, -300, -100, -30, -10, -3, -1, 0, 1, 3, 10, 30, 100, 300, 1000}) {
    if (std::abs(t) > extent || (std::abs(t) == 1 && extent >= 30)) continue;  // not crowded
    cbtics += (cbtics.empty() ? "" : ", ") + gp_quote(fixed(t, 0, t != 0) + "%%") +
              " " +  // a tic label is a format
              shortest(colour(t));
  }
  const auto tics = [](const std::set<double>& s) {
    std::string t = "(";
    int i = 0;
    for (double v : s) {
      t += (i ? ", " : "") + gp_quote(level_label(v)) + " " + std::to_string(i);
      ++i;
    }
    return t + ")";
  };
  std::string& c = f.commands;
  c += "set title " +
       gp_lines({dataset_prefix + "grid " + grid +
                     ": relative improvement of gift, (after - before) / before",
                 "(" + seeds_text(seeds_lo, seeds_hi) + ")"}) +
       "\n";
  c += "set xlabel " + gp_quote(kTrueAxis) + "\n";
  c += "set ylabel " + gp_quote(kAssumedAxis) + "\n";
  c += "set cblabel " + gp_quote("relative improvement of gift (%; colour on an asinh scale)") +
       " offset character 2.5, 0\n";
  c += "set xrange [-0.5:" + std::to_string(truth.size()) + "-0.5]\n";
  c += "set yrange [-0.5:" + std::to_string(assumed.size()) + "-0.5]\n";
  c += "set xtics " + tics(truth) + " scale 0\n";
  c += "set ytics " + tics(assumed) + " scale 0\n";
  c += "set cbrange [" + shortest(-colour(extent)) + ":" + shortest(colour(extent)) + "]\n";
  c += "set cbtics (" + cbtics + ")\n";
  c += "set palette defined (-1 '#5e97d1', -0.5 '#a9c8e8', 0 '#f7f7f7', 0.5 '#f2ad9b', 1 "
       "'#e0604a')\n";
  c += "set key off\nset border 0\n";
  const std::string dat = gp_quote(f.name + ".dat");
  c += "plot " + dat +
       " using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 noborder lc palette notitle, \\\n"
       "     " +
       dat + " using 1:2:(stringcolumn(4)) with labels font ',13' tc rgb '#000000' notitle\n";
  return f;
}

Figure cost_figure(const std::vector<AggregateRow>& rows, const std::string& dataset_prefix) {
  Figure f;
  f.name = "fig-cost";
  std::vector<std::string> methods;
  for (const AggregateRow& r : rows) {
    if (r.device_passes > 0 && r.recovery.n > 0 &&
        std::find(methods.begin(), methods.end(), r.method) == methods.end()) {
      methods.push_back(r.method);
    }
  }
  std::sort(methods.begin(), methods.end(), [](const std::string& a, const std::string& b) {
    return std::make_pair(method_rank(a), a) < std::make_pair(method_rank(b), b);
  });
  if (methods.empty()) return f;
  f.data = "# " + f.name +
           ": per method, one line per (grid, assumed, true): mean device passes, recovery (mean, "
           "95% low, 95% high)\n";
  for (const std::string& m : methods) {
    f.data += "# method " + m + "\n";
    for (const AggregateRow& r : rows) {
      if (r.method != m || !(r.device_passes > 0) || r.recovery.n == 0) continue;
      f.data += "# " + r.grid + ", assumed " + shortest(r.assumed_level) + ", true " +
                shortest(r.true_level) + "\n" + shortest(r.device_passes) + " " +
                shortest(r.recovery.mean) + " " + shortest(r.recovery.low) + " " +
                shortest(r.recovery.high) + "\n";
    }
    f.data += "\n\n";
  }
  std::string& c = f.commands;
  c += "set title " +
       gp_lines({dataset_prefix + "recovery against device cost",
                 "(one point per (grid, assumed, true) cell: means over seeds; intervals in "
                 "table.csv)"}) +
       "\n";
  c += "set xlabel " + gp_quote(kPassesAxis) + "\n";
  c += "set ylabel " + gp_quote(kRecoveryAxis) + "\n";
  c += "set logscale x\nset format x '%.0s%c'\nset mxtics 10\n";
  c += "set offsets graph 0.1, graph 0.1, graph 0.05, graph 0.05\n";
  c += "set key outside right top vertical Left reverse samplen 1 spacing 1.3\n";
  c += "set grid xtics ytics\n";
  c += "set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb '#000000'\n";
  c += "set label 1 'oracle' at graph 0.01, first 1 offset 0, 0.6 tc rgb '#000000'\n";
  c += "set arrow 2 from graph 0, first 0 to graph 1, first 0 nohead lc rgb '#888888'\n";
  std::vector<std::string> parts;
  const std::string dat = gp_quote(f.name + ".dat");
  for (size_t i = 0; i < methods.size(); ++i) {
    const MethodStyle s = method_style(methods[i]);
    parts.push_back(dat + " index " + std::to_string(i) + " using 1:2 with points lc rgb " +
                    gp_quote(s.color) + " pt " + std::to_string(s.point) + " ps 1.5 title " +
                    gp_quote(methods[i]));
  }
  c += gp_plot(parts);
  return f;
}

}  // namespace

std::vector<std::string> write_figures(const std::string& dir,
                                       const std::vector<AggregateRow>& rows) {
  if (!gnuplot_available()) throw InputError("gnuplot not found: install Debian's gnuplot-nox");
  if (rows.empty()) return {};

  std::set<std::string> datasets;
  for (const AggregateRow& r : rows) datasets.insert(r.dataset);
  const std::string prefix =
      datasets.size() == 1 && !rows[0].dataset.empty() ? rows[0].dataset + ", " : "";

  std::vector<Figure> figures;
  // (a) per (grid, assumed); rows are sorted by grid, assumed, true, method.
  std::map<std::pair<std::string, double>, std::vector<const AggregateRow*>> panels;
  std::map<std::string, std::vector<const AggregateRow*>> gift_by_grid;
  std::vector<std::pair<std::string, double>> panel_order;
  std::vector<std::string> grid_order;
  for (const AggregateRow& r : rows) {
    const auto key = std::make_pair(r.grid, r.assumed_level);
    if (panels.find(key) == panels.end()) panel_order.push_back(key);
    panels[key].push_back(&r);
    if (std::find(grid_order.begin(), grid_order.end(), r.grid) == grid_order.end()) {
      grid_order.push_back(r.grid);
    }
    if (r.method == "gift") gift_by_grid[r.grid].push_back(&r);
  }
  for (const auto& key : panel_order) {
    figures.push_back(accuracy_figure(key.first, key.second, panels[key], prefix));
  }
  // (b) per grid with gift rows and >= 2 levels on some axis.
  for (const std::string& grid : grid_order) {
    const auto it = gift_by_grid.find(grid);
    if (it == gift_by_grid.end()) continue;
    std::set<double> assumed, truth;
    for (const AggregateRow* r : it->second) {
      assumed.insert(r->assumed_level);
      truth.insert(r->true_level);
    }
    if (assumed.size() < 2 && truth.size() < 2) continue;
    figures.push_back(heatmap_figure(grid, it->second, prefix));
  }
  // (c) cost against recovery.
  Figure cost = cost_figure(rows, prefix);
  if (!cost.commands.empty()) figures.push_back(std::move(cost));

  std::set<std::string> names;
  for (const Figure& f : figures) {
    if (!names.insert(f.name).second) {
      throw InputError("figures of the sweep: two grids map to the same file name '" + f.name +
                       "' (grid names differ only in characters other than [A-Za-z0-9._-])");
    }
  }

  return render_figures(dir, figures, "figures.gp",
                        "Figures of a gift sweep, written by `gift report`.");
}

}  // namespace gift::experiment

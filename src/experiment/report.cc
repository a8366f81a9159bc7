#include "gift/experiment/report.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <tuple>
#include <utility>

#include "gift/core/error.h"
#include "gift/core/process.h"
#include "gift/io/atomic_file.h"
#include "gift/io/json.h"

namespace gift::experiment {

std::optional<double> recovery_of(double before, double after, double oracle) {
  if (!(oracle - before >= kMinRecoveryGap)) return std::nullopt;
  return (after - before) / (oracle - before);
}

using nlohmann::json;

// ------------------------------------------------------------------ numbers as text

std::string number_text(double x) {
  char buf[32];
  if (std::abs(x) < 1e15 &&
      std::floor(x) == x) {  // integers without an exponent: 65600, not 6.56e+04
    std::snprintf(buf, sizeof buf, "%.0f", x);
    return std::strcmp(buf, "-0") == 0 ? "0" : buf;
  }
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

std::string fixed_text(double x, int decimals, bool sign) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  if (std::strtod(buf, nullptr) == 0) {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, 0.0);
  } else if (sign) {
    std::snprintf(buf, sizeof buf, "%+.*f", decimals, x);
  }
  return buf;
}

// ------------------------------------------------------------------ gnuplot building blocks

std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string gp_lines(const std::vector<std::string>& lines) {
  std::string out = "\"";
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += "\\n";
    for (char ch : lines[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
  }
  return out + "\"";
}

MethodStyle method_style(const std::string& method) {
  static const MethodStyle known[] = {{"#6e6e6e", 5},    // none: grey squares
                                      {"#0072B2", 7},    // gift: blue circles
                                      {"#E69F00", 9},    // diff: orange triangles
                                      {"#009E73", 13},   // hil: green diamonds
                                      {"#CC79A7", 11}};  // retrain: purple triangles down
  static const MethodStyle extra[] = {{"#D55E00", 15}, {"#56B4E9", 3}, {"#F0E442", 2}};
  const int rank = method_rank(method);
  if (rank < 5) return known[rank];
  size_t h = 0;
  for (char c : method) h = h * 31 + static_cast<unsigned char>(c);
  return extra[h % 3];
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ------------------------------------------------------------------ numbers as text

// number_text and fixed_text (report.h), by their names here.
std::string shortest(double x) { return number_text(x); }
std::string fixed(double x, int decimals, bool sign = false) {
  return fixed_text(x, decimals, sign);
}

// ------------------------------------------------------------------ row parsing

std::string shown(const json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

[[noreturn]] void bad_field(const std::string& name, const std::string& expected, const json& v) {
  throw InputError("field '" + name + "' of a sweep row: expected " + expected + ", found " +
                   shown(v));
}

const json& field(const json& j, const std::string& name) {
  const auto it = j.find(name);
  if (it == j.end()) {
    throw InputError("field '" + name + "' of a sweep row: missing (found the fields " + [&] {
      std::string keys;
      for (const auto& item : j.items()) {
        keys += (keys.empty() ? "" : ", ") + item.key();
      }
      return keys.empty() ? std::string("none") : keys;
    }() + ")");
  }
  return *it;
}

std::string get_string(const json& j, const std::string& name, bool non_empty) {
  const json& v = field(j, name);
  if (!v.is_string() || (non_empty && v.get<std::string>().empty())) {
    bad_field(name, non_empty ? "a non-empty string" : "a string", v);
  }
  return v.get<std::string>();
}

// A finite number in [lo, hi].
double get_number(const json& j, const std::string& name, double lo, double hi,
                  const std::string& expected) {
  const json& v = field(j, name);
  if (!v.is_number()) bad_field(name, expected, v);
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) bad_field(name, expected, v);
  return x;
}

// A non-negative integer (an integral float such as 6.56e4 is accepted).
uint64_t get_count(const json& j, const std::string& name) {
  const json& v = field(j, name);
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0)
    return static_cast<uint64_t>(v.get<int64_t>());
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (x >= 0 && x <= 9007199254740992.0 && std::floor(x) == x) return static_cast<uint64_t>(x);
  }
  bad_field(name, "a non-negative integer", v);
}

int64_t get_int64(const json& j, const std::string& name) {
  const uint64_t n = get_count(j, name);
  if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    bad_field(name, "a non-negative integer below 2^63", field(j, name));
  }
  return static_cast<int64_t>(n);
}

double get_accuracy(const json& j, const std::string& name) {
  return get_number(j, name, 0, 1, "an accuracy (a number in [0, 1])");
}

Interval get_interval(const json& j, const std::string& name) {
  const json& v = field(j, name);
  const std::string expected = "[low, high] with 0 <= low <= high <= 1";
  if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number()) {
    bad_field(name, expected, v);
  }
  Interval ci{v[0].get<double>(), v[1].get<double>()};
  if (!(ci.low >= 0 && ci.low <= ci.high && ci.high <= 1)) bad_field(name, expected, v);
  return ci;
}

// ------------------------------------------------------------------ aggregation

// The identity of an aggregate: (grid, assumed, true, method), in report order.
struct Cell {
  std::string grid;
  double assumed, truth;
  std::string method;
  bool operator<(const Cell& o) const {
    return std::make_tuple(std::cref(grid), assumed, truth, method_rank(method),
                           std::cref(method)) < std::make_tuple(std::cref(o.grid), o.assumed,
                                                                o.truth, method_rank(o.method),
                                                                std::cref(o.method));
  }
};

std::string describe(const Cell& c) {
  return "grid " + c.grid + ", assumed " + shortest(c.assumed) + ", true " + shortest(c.truth) +
         ", method " + c.method;
}

MeanCI stat_of(const std::vector<const SweepRow*>& rows, double (*get)(const SweepRow&)) {
  std::vector<double> v;
  for (const SweepRow* r : rows) v.push_back(get(*r));
  return mean_ci95(v);
}

// An accuracy: over seeds, or the row's own Monte-Carlo interval when there is one seed.
MeanCI accuracy_of(const std::vector<const SweepRow*>& rows, double (*get)(const SweepRow&),
                   Interval (*get_ci)(const SweepRow&)) {
  MeanCI m = stat_of(rows, get);
  if (rows.size() == 1) {
    m.low = get_ci(*rows[0]).low;
    m.high = get_ci(*rows[0]).high;
  }
  return m;
}

// Over the rows where `get` is defined; n == 0 and NaN everywhere when it is defined for none.
MeanCI defined_stat(const std::vector<const SweepRow*>& rows,
                    std::optional<double> (*get)(const SweepRow&)) {
  std::vector<double> v;
  for (const SweepRow* r : rows) {
    if (const std::optional<double> x = get(*r)) v.push_back(*x);
  }
  if (v.empty()) {
    MeanCI m;
    m.mean = m.low = m.high = kNaN;
    m.n = 0;
    return m;
  }
  return mean_ci95(v);
}

double mean_of(const std::vector<const SweepRow*>& rows, double (*get)(const SweepRow&)) {
  double s = 0;
  for (const SweepRow* r : rows) s += get(*r);
  return s / static_cast<double>(rows.size());
}

// ------------------------------------------------------------------ tables

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

json stat_json(const MeanCI& m) {
  if (m.n == 0) return nullptr;
  return json{{"mean", m.mean}, {"ci", {m.low, m.high}}, {"n", m.n}};
}

// Fixed-width columns: text left-aligned, numbers right-aligned, two spaces apart.
class TextTable {
 public:
  void add_column(std::string header, bool right) {
    headers_.push_back(std::move(header));
    right_.push_back(right);
  }
  void add_row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  std::string str() const {
    std::vector<size_t> width(headers_.size());
    for (size_t c = 0; c < headers_.size(); ++c) {
      width[c] = headers_[c].size();
      for (const auto& r : rows_) width[c] = std::max(width[c], r[c].size());
    }
    std::string out;
    const auto line = [&](const std::vector<std::string>& cells) {
      std::string l;
      for (size_t c = 0; c < cells.size(); ++c) {
        const std::string pad(width[c] - cells[c].size(), ' ');
        l += (c ? "  " : "") + (right_[c] ? pad + cells[c] : cells[c] + pad);
      }
      while (!l.empty() && l.back() == ' ') l.pop_back();
      out += l + "\n";
    };
    line(headers_);
    for (const auto& r : rows_) line(r);
    return out;
  }

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

std::string percent_with_ci(const MeanCI& m) {
  return fixed(100 * m.mean, 2) + " [" + fixed(100 * m.low, 2) + ", " + fixed(100 * m.high, 2) +
         "]";
}

// ------------------------------------------------------------------ gnuplot

std::string file_safe(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

std::string legend_of(const std::string& method) {
  return method == "none" ? "none (baseline, trained at assumed)" : method;
}

std::string find_gnuplot() { return find_in_path("gnuplot"); }

// The non-empty lines of `text`, joined with " | " on one line, at most ~600 characters.
std::string one_line(const std::string& text) {
  std::string out, line;
  std::istringstream in(text);
  while (std::getline(in, line)) {
    line.erase(0, line.find_first_not_of(" \t\r^"));
    if (line.empty()) continue;
    out += (out.empty() ? "" : " | ") + line;
  }
  return out.size() > 600 ? out.substr(0, 597) + "..." : out;
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

Figure accuracy_figure(const std::string& grid, double assumed,
                       const std::vector<const AggregateRow*>& rows,
                       const std::string& dataset_prefix) {
  Figure f;
  f.name = "fig-accuracy-" + file_safe(grid) + "-a" + level_label(assumed);
  const std::string dat = gp_quote(f.name + ".dat");
  // The lines: one per method (its accuracy after fine-tuning), the start if no "none" row shows
  // it, and the oracle; the last two from the first row of each true level (report order).
  struct Series {
    std::string title, color;
    std::string style;                              // line and point options
    std::vector<std::pair<double, MeanCI>> points;  // (true level, accuracy)
  };
  std::vector<Series> series;
  std::map<double, const AggregateRow*> first;  // per true level
  std::set<double> levels;
  int seeds_lo = 1 << 30, seeds_hi = 0;
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
    levels.insert(r->true_level);
    seeds_lo = std::min(seeds_lo, r->seeds);
    seeds_hi = std::max(seeds_hi, r->seeds);
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

  // Data blocks (gnuplot's `index`), one per line.
  f.data = "# " + f.name + ": true level, accuracy % (mean, 95% low, 95% high)\n";
  for (const Series& sr : series) {
    f.data += "# " + sr.title + "\n";
    for (const auto& [x, m] : sr.points) {
      f.data += shortest(x) + " " + shortest(100 * m.mean) + " " + shortest(100 * m.low) + " " +
                shortest(100 * m.high) + "\n";
    }
    f.data += "\n\n";
  }

  const bool bands = levels.size() >= 2;
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
  c += level_axis(levels);
  // The key below the plot leaves its full width to the data; accuracy never exceeds 100%.
  c += "set key outside below center horizontal maxcols 3 Left reverse samplen 3 width 2 "
       "spacing 1.2\n";
  c += "set grid\nset yrange [0<*:*<100]\n";
  std::vector<std::string> parts;
  const auto block = [&](size_t i) { return dat + " index " + std::to_string(i); };
  for (size_t i = 0; i < series.size(); ++i) {  // bands first, under every line
    const bool last = i + 1 == series.size();   // the oracle's band is lighter
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
  c += "plot ";
  for (size_t i = 0; i < parts.size(); ++i) c += (i ? ", \\\n     " : "") + parts[i];
  c += "\n";
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
  c += "plot ";
  for (size_t i = 0; i < parts.size(); ++i) c += (i ? ", \\\n     " : "") + parts[i];
  c += "\n";
  return f;
}

}  // namespace

// ------------------------------------------------------------------ rows

SweepRow row_from_json(const json& j) {
  if (!j.is_object()) {
    throw InputError("sweep row: expected a JSON object, found " + shown(j));
  }
  SweepRow r;
  r.key = get_string(j, "key", true);
  r.grid = get_string(j, "grid", true);
  const double kMax = std::numeric_limits<double>::max();
  r.assumed_level = get_number(j, "assumed", 0, kMax, "a noise level (a number >= 0)");
  r.true_level = get_number(j, "true", 0, kMax, "a noise level (a number >= 0)");
  r.seed = get_count(j, "seed");
  r.method = get_string(j, "method", true);
  r.dataset = get_string(j, "dataset", false);
  r.acc_before = get_accuracy(j, "acc_before");
  r.acc_before_ci = get_interval(j, "acc_before_ci");
  r.acc_after = get_accuracy(j, "acc_after");
  r.acc_after_ci = get_interval(j, "acc_after_ci");
  r.acc_oracle = get_accuracy(j, "acc_oracle");
  r.acc_oracle_ci = get_interval(j, "acc_oracle_ci");
  // Undefined (null) when before is 0.
  r.relative_improvement =
      field(j, "relative_improvement").is_null()
          ? kNaN
          : get_number(j, "relative_improvement", -kMax, kMax, "a number or null");
  if (!field(j, "recovery").is_null()) {
    r.recovery = get_number(j, "recovery", -kMax, kMax, "a number or null");
  }
  r.device_passes = get_int64(j, "device_passes");
  r.device_programmings = get_int64(j, "device_programmings");
  r.sample_gradients = get_int64(j, "sample_gradients");
  r.digital_seconds = get_number(j, "digital_seconds", 0, kMax, "seconds (a number >= 0)");
  const json& accepted = field(j, "accepted");
  if (!accepted.is_boolean()) bad_field("accepted", "true or false", accepted);
  r.accepted = accepted.get<bool>();
  const std::string key = cell_key(r.grid, r.assumed_level, r.true_level, r.seed, r.method);
  if (r.key != key) {
    bad_field("key", "'" + key + "' (grid|assumed|true|seed|method of the row)", field(j, "key"));
  }
  return r;
}

json row_to_json(const SweepRow& r) {
  json j;
  j["key"] = r.key;
  j["grid"] = r.grid;
  j["assumed"] = r.assumed_level;
  j["true"] = r.true_level;
  j["seed"] = r.seed;
  j["method"] = r.method;
  j["dataset"] = r.dataset;
  j["acc_before"] = r.acc_before;
  j["acc_before_ci"] = {r.acc_before_ci.low, r.acc_before_ci.high};
  j["acc_after"] = r.acc_after;
  j["acc_after_ci"] = {r.acc_after_ci.low, r.acc_after_ci.high};
  j["acc_oracle"] = r.acc_oracle;
  j["acc_oracle_ci"] = {r.acc_oracle_ci.low, r.acc_oracle_ci.high};
  j["relative_improvement"] = r.relative_improvement;
  j["recovery"] = r.recovery ? json(*r.recovery) : json(nullptr);
  j["device_passes"] = r.device_passes;
  j["device_programmings"] = r.device_programmings;
  j["sample_gradients"] = r.sample_gradients;
  j["digital_seconds"] = r.digital_seconds;
  j["accepted"] = r.accepted;
  return j;
}

std::string cell_key(const std::string& grid, double assumed, double truth, uint64_t seed,
                     const std::string& method) {
  return grid + "|" + level_label(assumed) + "|" + level_label(truth) + "|" + std::to_string(seed) +
         "|" + method;
}

std::vector<SweepRow> parse_results(const std::string& text, const std::string& path) {
  std::vector<SweepRow> rows;
  std::set<std::string> keys;
  size_t pos = 0;
  for (size_t line_no = 1;; ++line_no) {
    const size_t nl = text.find('\n', pos);
    // No newline after the last line: a sweep killed mid-write; the line may be cut anywhere
    // (even into a shorter valid number), so it is ignored whether or not it parses.
    if (nl == std::string::npos) break;
    const std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = "'" + path + "' line " + std::to_string(line_no);
    SweepRow row;
    try {
      row = row_from_json(io::parse_json(line, where));
    } catch (const InputError& e) {
      const std::string msg = e.what();
      if (msg.rfind(where, 0) == 0) throw;  // parse_json's message names the line already
      throw InputError(where + ": " + msg);
    }
    if (keys.insert(row.key).second) rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<SweepRow> read_results(const std::string& path) {
  return parse_results(io::read_file(path), path);
}

int method_rank(const std::string& method) {
  static const char* const order[] = {"none", "gift", "diff", "hil", "retrain"};
  for (int i = 0; i < 5; ++i) {
    if (method == order[i]) return i;
  }
  return 5;
}

// ------------------------------------------------------------------ aggregation

std::vector<AggregateRow> aggregate(const std::vector<SweepRow>& rows) {
  std::map<Cell, std::vector<const SweepRow*>> cells;
  std::set<std::pair<Cell, uint64_t>> seen;  // (cell, seed): the first row is kept
  for (const SweepRow& r : rows) {
    Cell cell{r.grid, r.assumed_level, r.true_level, r.method};
    if (!seen.insert({cell, r.seed}).second) continue;
    cells[cell].push_back(&r);
  }
  std::vector<AggregateRow> out;
  for (const auto& [cell, group] : cells) {
    AggregateRow a;
    a.grid = cell.grid;
    a.assumed_level = cell.assumed;
    a.true_level = cell.truth;
    a.method = cell.method;
    a.dataset = group[0]->dataset;
    for (const SweepRow* r : group) {
      if (r->dataset != a.dataset) {
        throw InputError("sweep rows of " + describe(cell) + " come from different data sets: '" +
                         a.dataset + "' and '" + r->dataset + "'");
      }
    }
    a.seeds = static_cast<int>(group.size());
    a.acc_before = accuracy_of(
        group, [](const SweepRow& r) { return r.acc_before; },
        [](const SweepRow& r) { return r.acc_before_ci; });
    a.acc_after = accuracy_of(
        group, [](const SweepRow& r) { return r.acc_after; },
        [](const SweepRow& r) { return r.acc_after_ci; });
    a.acc_oracle = accuracy_of(
        group, [](const SweepRow& r) { return r.acc_oracle; },
        [](const SweepRow& r) { return r.acc_oracle_ci; });
    a.relative_improvement = defined_stat(group, [](const SweepRow& r) {
      return std::isfinite(r.relative_improvement) ? std::optional<double>(r.relative_improvement)
                                                   : std::nullopt;
    });
    a.recovery = defined_stat(group, [](const SweepRow& r) {
      // Recomputed from the accuracies, so rows written by any version follow one rule.
      return recovery_of(r.acc_before, r.acc_after, r.acc_oracle);
    });
    a.device_passes = mean_of(group, [](const SweepRow& r) { return double(r.device_passes); });
    a.device_programmings =
        mean_of(group, [](const SweepRow& r) { return double(r.device_programmings); });
    a.sample_gradients =
        mean_of(group, [](const SweepRow& r) { return double(r.sample_gradients); });
    a.digital_seconds = mean_of(group, [](const SweepRow& r) { return r.digital_seconds; });
    a.accepted_fraction = mean_of(group, [](const SweepRow& r) { return r.accepted ? 1.0 : 0.0; });
    out.push_back(std::move(a));
  }
  return out;
}

// ------------------------------------------------------------------ tables

std::string table_csv(const std::vector<AggregateRow>& rows) {
  std::string out =
      "grid,assumed,true,method,dataset,seeds,"
      "acc_before,acc_before_low,acc_before_high,acc_after,acc_after_low,acc_after_high,"
      "acc_oracle,acc_oracle_low,acc_oracle_high,"
      "relative_improvement,relative_improvement_low,relative_improvement_high,"
      "recovery,recovery_low,recovery_high,recovery_seeds,"
      "device_passes,device_programmings,sample_gradients,digital_seconds,accepted_fraction\n";
  const auto stat = [](const MeanCI& m) {
    return shortest(m.mean) + "," + shortest(m.low) + "," + shortest(m.high);
  };
  for (const AggregateRow& r : rows) {
    out += csv_field(r.grid) + "," + shortest(r.assumed_level) + "," + shortest(r.true_level) +
           "," + csv_field(r.method) + "," + csv_field(r.dataset) + "," + std::to_string(r.seeds) +
           "," + stat(r.acc_before) + "," + stat(r.acc_after) + "," + stat(r.acc_oracle) + "," +
           (r.relative_improvement.n > 0 ? stat(r.relative_improvement) : ",,") + "," +
           (r.recovery.n > 0 ? stat(r.recovery) : ",,") + "," + std::to_string(r.recovery.n) + "," +
           shortest(r.device_passes) + "," + shortest(r.device_programmings) + "," +
           shortest(r.sample_gradients) + "," + shortest(r.digital_seconds) + "," +
           shortest(r.accepted_fraction) + "\n";
  }
  return out;
}

json table_json(const std::vector<AggregateRow>& rows) {
  json out = json::array();
  for (const AggregateRow& r : rows) {
    out.push_back({{"grid", r.grid},
                   {"assumed", r.assumed_level},
                   {"true", r.true_level},
                   {"method", r.method},
                   {"dataset", r.dataset},
                   {"seeds", r.seeds},
                   {"acc_before", stat_json(r.acc_before)},
                   {"acc_after", stat_json(r.acc_after)},
                   {"acc_oracle", stat_json(r.acc_oracle)},
                   {"relative_improvement", stat_json(r.relative_improvement)},
                   {"recovery", stat_json(r.recovery)},
                   {"device_passes", r.device_passes},
                   {"device_programmings", r.device_programmings},
                   {"sample_gradients", r.sample_gradients},
                   {"digital_seconds", r.digital_seconds},
                   {"accepted_fraction", r.accepted_fraction}});
  }
  return out;
}

void write_tables(const std::string& dir, const std::vector<AggregateRow>& rows) {
  io::write_file_atomic(dir + "/table.csv", table_csv(rows));
  io::write_file_atomic(dir + "/table.json", table_json(rows).dump(1) + "\n");
}

std::string format_table(const std::vector<AggregateRow>& rows) {
  TextTable t;
  for (const char* h : {"grid", "assumed", "true", "method"}) t.add_column(h, false);
  for (const char* h : {"seeds", "before (%)", "after (%)", "oracle (%)", "rel. impr. (%)",
                        "recovery", "device passes", "digital s", "accepted"}) {
    t.add_column(h, true);
  }
  for (const AggregateRow& r : rows) {
    const std::string recovery = r.recovery.n == 0
                                     ? "-"
                                     : fixed(r.recovery.mean, 2) + " [" + fixed(r.recovery.low, 2) +
                                           ", " + fixed(r.recovery.high, 2) + "]";
    const long accepted = std::lround(r.accepted_fraction * r.seeds);
    t.add_row(
        {r.grid, level_label(r.assumed_level), level_label(r.true_level), r.method,
         std::to_string(r.seeds), percent_with_ci(r.acc_before), percent_with_ci(r.acc_after),
         percent_with_ci(r.acc_oracle),
         r.relative_improvement.n == 0 ? "-" : fixed(100 * r.relative_improvement.mean, 1, true),
         recovery, fixed(r.device_passes, 0), fixed(r.digital_seconds, 2),
         std::to_string(accepted) + "/" + std::to_string(r.seeds)});
  }
  return t.str() +
         "(means over seeds with 95% intervals: t over seeds, or the Monte-Carlo interval of a "
         "single seed; recovery over the seeds where the oracle beats the start by >= 1 point)\n";
}

std::string level_label(double x) { return file_safe(shortest(x)); }

// ------------------------------------------------------------------ figures

bool gnuplot_available() { return !find_gnuplot().empty(); }

std::vector<std::string> write_figures(const std::string& dir,
                                       const std::vector<AggregateRow>& rows) {
  const std::string gnuplot = find_gnuplot();
  if (gnuplot.empty()) throw InputError("gnuplot not found: install Debian's gnuplot-nox");
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

std::vector<std::string> render_figures(const std::string& dir, const std::vector<Figure>& figures,
                                        const std::string& script_name,
                                        const std::string& comment) {
  const std::string gnuplot = find_gnuplot();
  if (gnuplot.empty()) throw InputError("gnuplot not found: install Debian's gnuplot-nox");
  // The script: a terminal for each format, then per figure its settings and plot, rendered to
  // name + tmp (tmp is set on the command line; empty when the script is run by hand).
  std::string script =
      "# " + comment +
      " Re-render with:\n"
      "#   cd <this directory> && gnuplot " +
      script_name +
      "\n"
      "if (exists(\"dir\")) cd dir\n"
      "if (!exists(\"tmp\")) tmp = ''\n"
      "set encoding utf8\n"
      "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
      "  png_terminal = \"set terminal pngcairo size 1100,650 font 'sans,12' noenhanced "
      "background '#ffffff'\"\n"
      "} else {\n"
      "  png_terminal = \"set terminal png size 1100,650 noenhanced\"\n"
      "}\n"
      "svg_terminal = \"set terminal svg size 1100,650 font 'sans,12' noenhanced background "
      "'#ffffff'\"\n";
  std::vector<std::string> written;
  for (const Figure& f : figures) {
    io::write_file_atomic(dir + "/" + f.name + ".dat", f.data);
    written.push_back(dir + "/" + f.name + ".dat");
    script += "\n# ---- " + f.name + "\nreset\n";
    script += "eval png_terminal\nset output " + gp_quote(f.name + ".png") + ".tmp\n";
    script += f.commands;
    script += "eval svg_terminal\nset output " + gp_quote(f.name + ".svg") + ".tmp\nreplot\n";
    script += "unset output\n";
  }
  const std::string script_path = dir + "/" + script_name;
  io::write_file_atomic(script_path, script);
  written.push_back(script_path);

  const std::string tmp = ".tmp." + std::to_string(::getpid());
  std::vector<std::pair<std::string, std::string>> outputs;  // (temporary, final)
  for (const Figure& f : figures) {
    for (const char* ext : {".png", ".svg"}) {
      const std::string final_path = dir + "/" + f.name + ext;
      outputs.emplace_back(final_path + tmp, final_path);
    }
  }
  const auto remove_temporaries = [&] {
    for (const auto& o : outputs) ::unlink(o.first.c_str());
  };
  const auto [status, output] = run_captured(
      {gnuplot, "-e", "dir = " + gp_quote(dir) + "; tmp = " + gp_quote(tmp), script_path},
      "gnuplot");
  if (status != 0) {
    remove_temporaries();
    throw InputError("gnuplot failed on '" + script_path + "' (exit status " +
                     std::to_string(status) + "): " + one_line(output));
  }
  for (const auto& [temporary, final_path] : outputs) {
    struct stat st;
    if (::stat(temporary.c_str(), &st) != 0 || st.st_size == 0) {
      remove_temporaries();
      throw InputError("gnuplot wrote no '" + temporary + "' from '" + script_path +
                       "': " + one_line(output));
    }
  }
  for (const auto& [temporary, final_path] : outputs) {
    if (::rename(temporary.c_str(), final_path.c_str()) != 0) {
      const int err = errno;
      remove_temporaries();
      throw InputError("cannot write file '" + final_path + "': rename from '" + temporary +
                       "' failed: " + std::strerror(err));
    }
    written.push_back(final_path);
  }
  return written;
}

}  // namespace gift::experiment

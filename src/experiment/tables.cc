#include "gift/experiment/tables.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "gift/experiment/number_text.h"
#include "gift/io/atomic_file.h"

namespace gift::experiment {
namespace {

using nlohmann::json;

// number_text and fixed_text (number_text.h), by their names here.
std::string shortest(double x) { return number_text(x); }
std::string fixed(double x, int decimals, bool sign = false) {
  return fixed_text(x, decimals, sign);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

json stat_json(const Interval& m) {
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

std::string percent_with_ci(const Interval& m) {
  return fixed(100 * m.mean, 2) + " [" + fixed(100 * m.low, 2) + ", " + fixed(100 * m.high, 2) +
         "]";
}

}  // namespace

std::string table_csv(const std::vector<AggregateRow>& rows) {
  std::string out =
      "grid,assumed,true,method,dataset,seeds,"
      "acc_before,acc_before_low,acc_before_high,acc_after,acc_after_low,acc_after_high,"
      "acc_oracle,acc_oracle_low,acc_oracle_high,"
      "relative_improvement,relative_improvement_low,relative_improvement_high,"
      "recovery,recovery_low,recovery_high,recovery_seeds,"
      "device_passes,device_programmings,sample_gradients,digital_seconds,accepted_fraction\n";
  const auto stat = [](const Interval& m) {
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
    // One seed has no interval over seeds: the mean alone, never a zero-width "[x, x]".
    const std::string recovery = r.recovery.n == 0 ? "-"
                                 : r.recovery.n == 1
                                     ? fixed(r.recovery.mean, 2)
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
         "single seed; recovery over the seeds where the oracle beats the start by >= 1 point, "
         "\"-\" "
         "where none does; its interval over seeds where there are two or more)\n";
}

}  // namespace gift::experiment

// gift report: tables and figures of a sweep directory (DIR/results.jsonl, written by gift sweep).
#include "gift/experiment/report.h"

#include <cstdio>
#include <memory>

#include "common.h"
#include "gift/core/error.h"

namespace gift::cli {
namespace {

struct ReportFlags {
  std::string sweep;
  bool no_figures = false;
};

void run_report(const ReportFlags& f) {
  const std::string results = f.sweep + "/results.jsonl";
  const std::vector<experiment::StudyRow> rows = experiment::read_results(results);
  if (rows.empty()) {
    throw InputError("'" + results +
                     "' holds no finished cells (expected one JSON object per line)");
  }
  const std::vector<experiment::AggregateRow> table = experiment::aggregate(rows);
  std::printf("%s: %zu finished cells, %zu rows over seeds\n", results.c_str(), rows.size(),
              table.size());
  std::fputs(experiment::format_table(table).c_str(), stdout);
  experiment::write_tables(f.sweep, table);
  std::printf("wrote %s/table.csv\nwrote %s/table.json\n", f.sweep.c_str(), f.sweep.c_str());
  std::fflush(stdout);
  if (f.no_figures) return;
  // Tables are the essential output; a machine without gnuplot still gets them.
  if (!experiment::gnuplot_available()) {
    std::fprintf(stderr,
                 "gift: warning: gnuplot not found: install Debian's gnuplot-nox; figures "
                 "skipped (--no-figures silences this)\n");
    return;
  }
  for (const std::string& path : experiment::write_figures(f.sweep, table)) {
    std::printf("wrote %s\n", path.c_str());
  }
}

}  // namespace

void write_report(const std::string& dir, bool figures) { run_report({dir, !figures}); }

void add_report(CLI::App& app) {
  auto f = std::make_shared<ReportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "report",
      "tables and figures of a sweep: DIR/results.jsonl -> DIR/table.{csv,json}, "
      "DIR/fig-*.{png,svg}");
  cmd->add_option("--sweep", f->sweep, "the sweep directory (holds results.jsonl)")->required();
  cmd->add_flag("--no-figures", f->no_figures, "write the tables only (no gnuplot)");
  cmd->callback([f] { run_report(*f); });
}

}  // namespace gift::cli

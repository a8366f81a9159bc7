// Bindings of the misspecification study (experiment/): SweepConfig (the JSON study of
// `gift sweep --study`, as a dict or with attributes), the reproduce preset, sweep (run_sweep:
// resumable, GIL released) and report (`gift report`: tables, and figures with gnuplot).
//
// Ctrl-C during a sweep stops it after the cell or network in progress: finished rows and
// networks are kept (each written whole), and the same call again resumes, as with the CLI.
#include "common.h"
#include "gift/core/error.h"
#include "gift/experiment/report.h"
#include "gift/experiment/sweep.h"
#include "gift/io/model_json.h"

namespace gift::py {
namespace {

using experiment::GridSpec;
using experiment::SweepConfig;

void bind_config(pyb::module_& m) {
  pyb::class_<GridSpec>(m, "GridSpec", "A noise pattern and its assumed and true levels")
      .def(pyb::init([](const std::string& name, const NoiseModel& pattern,
                        const std::vector<double>& assumed, const std::vector<double>& truth) {
             return GridSpec{name, pattern, assumed, truth};
           }),
           pyb::arg("name"), pyb::arg("pattern"), pyb::arg("assumed"), pyb::arg("truth"))
      .def_readwrite("name", &GridSpec::name)
      .def_readwrite("pattern", &GridSpec::pattern)
      .def_readwrite("assumed", &GridSpec::assumed)
      .def_readwrite("truth", &GridSpec::truth);
  pyb::class_<SweepConfig>(m, "SweepConfig", "A sweep's study (gift sweep --study FILE)")
      .def(pyb::init<>())
      .def_static(
          "from_json",
          [](const pyb::object& j, const std::string& what) {
            return SweepConfig::from_json(from_python(j), what);
          },
          pyb::arg("study"), pyb::arg("what") = "study")
      .def("to_json", [](const SweepConfig& c) { return to_python(c.to_json()); })
      .def("validate", &SweepConfig::validate)
      .def_readwrite("dataset", &SweepConfig::dataset)
      .def_readwrite("data_dir", &SweepConfig::data_dir)
      .def_readwrite("arch", &SweepConfig::arch)
      .def_readwrite("activation", &SweepConfig::activation)
      .def_readwrite("w_max", &SweepConfig::w_max)
      .def_readwrite("train_epochs", &SweepConfig::train_epochs)
      .def_readwrite("train_batch", &SweepConfig::train_batch)
      .def_readwrite("train_lr", &SweepConfig::train_lr)
      .def_readwrite("train_limit", &SweepConfig::train_limit)
      .def_readwrite("test_limit", &SweepConfig::test_limit)
      .def_readwrite("grids", &SweepConfig::grids)
      .def_readwrite("seeds", &SweepConfig::seeds)
      .def_readwrite("methods", &SweepConfig::methods)
      .def_readwrite("finetune", &SweepConfig::finetune)
      .def_readwrite("calib_size", &SweepConfig::calib_size)
      .def_readwrite("eval_repeats", &SweepConfig::eval_repeats)
      .def_readwrite("imperfections", &SweepConfig::imperfections);
  m.def("reproduce_preset", &experiment::reproduce_preset, pyb::arg("quick") = false,
        pyb::arg("dataset") = "mnist", "the paper's study, as gift reproduce runs it");
}

void bind_sweep(pyb::module_& m) {
  using experiment::SweepSummary;
  pyb::class_<SweepSummary>(m, "SweepSummary")
      .def_readonly("cells_total", &SweepSummary::cells_total)
      .def_readonly("cells_skipped", &SweepSummary::cells_skipped)
      .def_readonly("cells_run", &SweepSummary::cells_run)
      .def_readonly("models_needed", &SweepSummary::models_needed)
      .def_readonly("models_trained", &SweepSummary::models_trained)
      .def_readonly("seconds", &SweepSummary::seconds);
  m.def(
      "sweep",
      [](const SweepConfig& config, const std::string& dir, int jobs, size_t max_cells,
         const pyb::object& log, const pyb::object& progress) {
        // Called one at a time from the worker threads; each is a stop point for Ctrl-C.
        experiment::SweepCallbacks cb;
        cb.log = [&log](const std::string& line) { call_back(log, line); };
        cb.progress = [&progress](size_t done, size_t total, double eta) {
          call_back(progress, done, total, eta);
        };
        return interruptible(
            [&] { return experiment::run_sweep(config, dir, jobs, cb, max_cells); });
      },
      pyb::arg("config"), pyb::arg("dir"), pyb::arg("jobs") = 0, pyb::arg("max_cells") = 0,
      pyb::arg("log") = pyb::none(), pyb::arg("progress") = pyb::none(),
      "runs or resumes the sweep in dir (gift sweep): log(line) per event, "
      "progress(done, total, eta_seconds) per cell");
}

void bind_report(pyb::module_& m) {
  m.def(
      "read_results",
      [](const std::string& dir) {
        pyb::list rows;
        for (const experiment::StudyRow& r : experiment::read_results(dir + "/results.jsonl")) {
          rows.append(to_python(experiment::row_to_json(r)));
        }
        return rows;
      },
      pyb::arg("dir"), "the finished cells of the sweep in dir, one dict per row");
  m.def(
      "report",
      [](const std::string& dir, bool figures) {
        // As gift report: the aggregate over seeds, its text table, the files written.
        const std::string results = dir + "/results.jsonl";
        const std::vector<experiment::StudyRow> rows = experiment::read_results(results);
        if (rows.empty()) {
          throw InputError("'" + results +
                           "' holds no finished cells (expected one JSON object per line)");
        }
        const std::vector<experiment::AggregateRow> table = experiment::aggregate(rows);
        experiment::write_tables(dir, table);
        std::vector<std::string> files = {dir + "/table.csv", dir + "/table.json"};
        if (figures) {
          for (const std::string& p : experiment::write_figures(dir, table)) files.push_back(p);
        }
        pyb::dict out;
        out["rows"] = to_python(experiment::table_json(table));
        out["text"] = experiment::format_table(table);
        out["files"] = files;
        return out;
      },
      pyb::arg("dir"), pyb::arg("figures") = false,
      "tables of the sweep in dir ({rows, text, files}); figures=True also draws them with "
      "gnuplot (gift.InputError without it)");
}

}  // namespace

void register_experiment(pyb::module_& m) {
  bind_config(m);
  bind_sweep(m);
  bind_report(m);
}

}  // namespace gift::py

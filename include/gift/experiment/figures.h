// Figures rendered with gnuplot (each as PNG and SVG): the building blocks shared by the sweep's
// figures (write_figures, of an aggregate) and the frontier's (frontier.h), and render_figures,
// which writes each figure's data file and one script and runs gnuplot on it. gnuplot is found
// on the PATH (core/process.h's find_in_path) and run as a child process (run_captured).
// Every file is written atomically (io::write_file_atomic, or a temporary name and a rename).
#pragma once

#include <string>
#include <vector>

#include "gift/experiment/aggregate.h"

namespace gift::experiment {

// Whether a `gnuplot` executable is on the PATH.
bool gnuplot_available();

// A gnuplot single-quoted string literal: gp_quote("it's") == "'it''s'".
std::string gp_quote(const std::string& s);
// A gnuplot double-quoted string literal with "\n" line breaks between `lines`.
std::string gp_lines(const std::vector<std::string>& lines);
// A plot command of `parts` (one plot element each), one per line: "plot a, \\\n     b\n".
std::string gp_plot(const std::vector<std::string>& parts);

// Colour and point type of a method's line in every figure: the Okabe-Ito palette (colour-blind
// safe); none grey squares, gift blue circles, diff orange triangles, hil green diamonds, retrain
// purple triangles down (by method_rank); other names one of three further styles.
struct MethodStyle {
  std::string color;  // "#rrggbb"
  int point;          // gnuplot point type
};
MethodStyle method_style(const std::string& method);

// One figure: its base name (no extension), the contents of its data file (<name>.dat, which
// the commands name) and its gnuplot commands (settings and one plot command, without terminal
// or output).
struct Figure {
  std::string name, data, commands;
};

// Renders `figures` with gnuplot, each as <name>.png and <name>.svg in `dir`: writes the data
// files and the script `script_name` (its first line `comment`; `cd dir && gnuplot <script_name>`
// re-renders), then renders each figure to a temporary name and renames it into place. Returns
// the paths written: data files, the script, then the figures. Throws InputError("gnuplot not
// found: install Debian's gnuplot-nox") if gnuplot is not on the PATH, and InputError with
// gnuplot's message if it fails (then no figure is replaced).
std::vector<std::string> render_figures(const std::string& dir, const std::vector<Figure>& figures,
                                        const std::string& script_name, const std::string& comment);

// The sweep's figures (sweep_figures.cc), rendered with render_figures into `dir`:
//   fig-accuracy-<grid>-a<assumed>: per (grid, assumed), device test accuracy against the true
//     level, one line per method (after fine-tuning; "none" is the start) and the oracle, with
//     shaded 95% bands (error bars when there is one true level); without "none" rows, the start
//     is drawn from acc_before;
//   fig-heatmap-<grid>: per grid with gift rows and >= 2 levels on some axis, gift's mean
//     relative improvement over (assumed, true), values printed in the cells (colour on an
//     asinh scale, so a few % and +100% both show);
//   fig-cost: recovery against device passes (log x), one point per (grid, assumed, true, method)
//     with device passes > 0 and a defined recovery (skipped if there is none).
// Grid names are made file-name safe (file_safe). The script is figures.gp (`cd dir && gnuplot
// figures.gp` re-renders). Returns the paths written: data files, the script, then the figures.
// Throws InputError("gnuplot not found: install Debian's gnuplot-nox") if gnuplot is not on the
// PATH, and InputError with gnuplot's message if it fails (then no figure is replaced).
std::vector<std::string> write_figures(const std::string& dir,
                                       const std::vector<AggregateRow>& rows);

}  // namespace gift::experiment

#include "gift/experiment/figures.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <sstream>
#include <utility>

#include "gift/core/error.h"
#include "gift/core/process.h"
#include "gift/experiment/aggregate.h"
#include "gift/io/atomic_file.h"

namespace gift::experiment {
namespace {

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

// The gnuplot script of `figures`: a terminal for each format, then per figure its settings and
// plot, rendered to name + tmp (tmp is set on the command line; empty when the script is run by
// hand).
std::string gnuplot_script(const std::vector<Figure>& figures, const std::string& script_name,
                           const std::string& comment) {
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
  for (const Figure& f : figures) {
    script += "\n# ---- " + f.name + "\nreset\n";
    script += "eval png_terminal\nset output " + gp_quote(f.name + ".png") + ".tmp\n";
    script += f.commands;
    script += "eval svg_terminal\nset output " + gp_quote(f.name + ".svg") + ".tmp\nreplot\n";
    script += "unset output\n";
  }
  return script;
}

// Runs `gnuplot` on the script at `script_path`, which renders each figure to a temporary name in
// `dir`, then renames each into place; returns the figures' paths. On failure no figure is
// replaced and no temporary is left.
std::vector<std::string> run_gnuplot(const std::string& gnuplot, const std::string& dir,
                                     const std::string& script_path,
                                     const std::vector<Figure>& figures) {
  std::vector<std::string> written;
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

}  // namespace

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

std::string gp_plot(const std::vector<std::string>& parts) {
  std::string c = "plot ";
  for (size_t i = 0; i < parts.size(); ++i) c += (i ? ", \\\n     " : "") + parts[i];
  return c + "\n";
}

MethodStyle method_style(const std::string& method) {
  static const MethodStyle known[] = {{"#6e6e6e", 5},    // none: grey squares
                                      {"#0072B2", 7},    // gift: blue circles
                                      {"#E69F00", 9},    // diff: orange triangles
                                      {"#009E73", 13},   // hil: green diamonds
                                      {"#CC79A7", 11}};  // retrain: purple triangles down
  static const MethodStyle extra[] = {{"#D55E00", 15}, {"#56B4E9", 3}, {"#F0E442", 2}};
  const size_t rank = static_cast<size_t>(method_rank(method));
  if (rank < std::size(known)) return known[rank];
  size_t h = 0;
  for (char c : method) h = h * 31 + static_cast<unsigned char>(c);
  return extra[h % std::size(extra)];
}

bool gnuplot_available() { return !find_gnuplot().empty(); }

std::vector<std::string> render_figures(const std::string& dir, const std::vector<Figure>& figures,
                                        const std::string& script_name,
                                        const std::string& comment) {
  const std::string gnuplot = find_gnuplot();
  if (gnuplot.empty()) throw InputError("gnuplot not found: install Debian's gnuplot-nox");
  std::vector<std::string> written;
  for (const Figure& f : figures) {
    io::write_file_atomic(dir + "/" + f.name + ".dat", f.data);
    written.push_back(dir + "/" + f.name + ".dat");
  }
  const std::string script_path = dir + "/" + script_name;
  io::write_file_atomic(script_path, gnuplot_script(figures, script_name, comment));
  written.push_back(script_path);
  for (const std::string& p : run_gnuplot(gnuplot, dir, script_path, figures)) {
    written.push_back(p);
  }
  return written;
}

}  // namespace gift::experiment

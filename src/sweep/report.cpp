#include "sweep/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "common/format.h"
#include "common/fs.h"
#include "common/plot.h"
#include "common/process.h"

namespace hyperrep::sweep {
namespace {

bool to_number(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

bool numeric_axis(const Axis& a) {
  double v;
  return std::all_of(a.values.begin(), a.values.end(), [&](const std::string& s) { return to_number(s, v); });
}

struct Line {
  std::string title;
  std::vector<std::pair<double, double>> points;
};

// Lines of one plot: a line per method and per combination of the other axes' values.
std::vector<Line> plot_lines(const Sweep& sweep, const Collected& c, const std::string& target, const std::string& metric,
                             size_t axis) {
  std::vector<Line> lines;
  std::map<std::string, size_t> index;
  for (const auto& r : c.rows) {
    if (r.target != target || r.metric != metric) continue;
    double x, y;
    const auto& run = sweep.runs[r.run];
    if (!to_number(run.values[axis], x) || !to_number(r.value, y) || !std::isfinite(y)) continue;
    std::string title = r.method;
    for (size_t a = 0; a < sweep.axes.size(); ++a) {
      if (a != axis) title += ", " + sweep.axes[a].key + "=" + run.values[a];
    }
    auto it = index.find(title);
    if (it == index.end()) {
      it = index.emplace(title, lines.size()).first;
      lines.push_back({title, {}});
    }
    lines[it->second].points.push_back({x, y});
  }
  for (auto& l : lines) std::sort(l.points.begin(), l.points.end());
  return lines;
}

std::string plot_script(const Sweep& sweep, const Plot& p, const std::vector<Line>& lines, const std::string& terminal,
                        const std::string& output) {
  std::ostringstream os;
  // Every text below is quoted by gnuplot_quote (gnuplot expands nothing inside single quotes and
  // a line break cannot end the command); the comment line goes through it too.
  os << "# " << gnuplot_quote(p.target + ": " + p.metric + " against " + p.axis + " (sweep " + sweep.name + ")")
     << ", written by hyperrep sweep report\n";
  os << "set terminal " << terminal << " size 900,560 noenhanced" << (terminal == "pngcairo" ? " font \",11\"" : "") << "\n";
  os << "set output " << gnuplot_quote(output) << "\n";
  os << "set title " << gnuplot_quote(p.target + ": " + p.metric + " vs " + p.axis + " (sweep " + sweep.name + ")") << "\n";
  os << "set xlabel " << gnuplot_quote(p.axis) << "\nset ylabel " << gnuplot_quote(p.metric) << "\n";
  os << "set grid\nset key outside right top\nset offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n";
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& l : lines)
    for (const auto& pt : l.points) {
      lo = std::min(lo, pt.first);
      hi = std::max(hi, pt.first);
    }
  // Sizes that double (zoo members, widths) read best on a log axis.
  if (lo > 0 && hi / lo >= 8) os << "set logscale x 2\n";
  // Ticks at the swept values, not at round numbers between them.
  std::vector<double> xs;
  for (const auto& l : lines)
    for (const auto& pt : l.points) xs.push_back(pt.first);
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  os << "set xtics (";
  for (size_t i = 0; i < xs.size(); ++i) os << (i ? ", " : "") << format_double(xs[i]);
  os << ")\n";
  for (size_t i = 0; i < lines.size(); ++i) {
    os << "$line" << i << " << EOD\n";
    for (const auto& pt : lines[i].points) os << format_double(pt.first) << " " << format_double(pt.second) << "\n";
    os << "EOD\n";
  }
  os << "plot ";
  for (size_t i = 0; i < lines.size(); ++i) {
    os << (i ? ", \\\n     " : "") << "$line" << i << " using 1:2 with linespoints lw 2 pt 7 title "
       << gnuplot_quote(lines[i].title);
  }
  os << "\n";
  return os.str();
}

}  // namespace

std::string gnuplot_terminal(const std::string& gnuplot) {
  return run_process({gnuplot, "-e", "set terminal pngcairo"}, "/dev/null") == 0 ? "pngcairo" : "png";
}

std::vector<Plot> write_report(const Sweep& sweep, const Collected& c, const std::string& gnuplot) {
  const std::string out = sweep.settings.out;
  const std::string plots_dir = out + "/plots";
  make_dirs(plots_dir);
  std::vector<std::pair<std::string, std::string>> keys;  // (target, metric) in order
  for (const auto& r : c.rows) {
    const auto k = std::make_pair(r.target, r.metric);
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  }
  std::vector<Plot> plots;
  std::string terminal;
  const std::string log = plots_dir + "/gnuplot.log";
  for (const auto& [target, metric] : keys) {
    for (size_t a = 0; a < sweep.axes.size(); ++a) {
      if (!numeric_axis(sweep.axes[a])) continue;
      Plot p{target, metric, sweep.axes[a].key, "", "", 0};
      const auto lines = plot_lines(sweep, c, target, metric, a);
      if (lines.empty()) continue;
      if (terminal.empty()) {
        HYPERREP_CHECK(!find_executable(gnuplot).empty(), IoError, "sweep report needs gnuplot ('", gnuplot,
                       "' not found; apt-get install gnuplot-nox)");
        terminal = gnuplot_terminal(gnuplot);
      }
      const std::string stem = sanitize_name(target + "__" + metric + "__" + p.axis);
      p.png = plots_dir + "/" + stem + ".png";
      p.script = plots_dir + "/" + stem + ".gp";
      p.lines = lines.size();
      // gnuplot runs inside plots_dir and the script names its output by file name only.
      const std::string tmp = p.png + ".tmp";
      const int rc =
          run_gnuplot(gnuplot, plots_dir, stem + ".gp", plot_script(sweep, p, lines, terminal, stem + ".png.tmp"), log);
      HYPERREP_CHECK(rc == 0 && path_exists(tmp), IoError, "gnuplot failed on ", p.script, " (exit code ", rc, "; see ", log,
                     ")");
      std::filesystem::rename(tmp, p.png);
      plots.push_back(p);
    }
  }
  fsync_dir(plots_dir);

  std::ostringstream md;
  md << collected_markdown(sweep, c) << "\n## Plots\n";
  if (plots.empty()) md << "\nNo plots: no complete run, or no axis with numeric values.\n";
  for (const auto& p : plots) {
    const std::string rel = "plots/" + std::filesystem::path(p.png).filename().string();
    md << "\n### " << p.target << ": " << p.metric << " vs " << p.axis << "\n\n![" << p.target << " " << p.metric << " vs "
       << p.axis << "](" << rel << ")\n";
  }
  write_file_atomic(out + "/report.md", md.str());
  return plots;
}

}  // namespace hyperrep::sweep

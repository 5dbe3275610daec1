// The sweep report: for each probe target and metric, a PNG (gnuplot) of the metric against
// each numeric axis with a line per method (and per value of the other axes), and
// OUT/report.md with the collected tables and links to the plots.
#pragma once

#include <string>
#include <vector>

#include "sweep/collect.h"

namespace hyperrep::sweep {

struct Plot {
  std::string target, metric, axis;
  std::string png;     // OUT/plots/<target>__<metric>__<axis>.png
  std::string script;  // the gnuplot script beside it (rerun it to restyle)
  size_t lines = 0;
};

// "pngcairo" when this gnuplot has it (Debian's gnuplot-nox does), else "png" (libgd).
std::string gnuplot_terminal(const std::string& gnuplot);

// Draws every plot and writes OUT/report.md; throws IoError when gnuplot is missing or fails.
std::vector<Plot> write_report(const Sweep& sweep, const Collected& c, const std::string& gnuplot = "gnuplot");

}  // namespace hyperrep::sweep

// Collecting a sweep: the final probe results (RUN/results.csv) of every complete run in one
// table, the axis values as columns, written as OUT/results.csv and OUT/results.md.
#pragma once

#include <string>
#include <vector>

#include "sweep/sweep_spec.h"

namespace hyperrep::sweep {

struct ResultRow {
  size_t run = 0;  // index into Sweep::runs
  std::string target, method, metric, value;
};

struct Collected {
  std::vector<ResultRow> rows;       // runs in sweep order, each run's rows in file order
  std::vector<std::string> missing;  // runs without DONE_RUN
};

Collected collect(const Sweep& sweep);
// Header: one column per axis (its key), then target,method,metric,value.
std::string collected_csv(const Sweep& sweep, const Collected& c);
// One table per target and metric: a row per run (axis values), a column per method.
std::string collected_markdown(const Sweep& sweep, const Collected& c);
// Writes OUT/results.csv and OUT/results.md.
void write_collected(const Sweep& sweep, const Collected& c);

}  // namespace hyperrep::sweep

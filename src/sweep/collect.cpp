#include "sweep/collect.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "common/csv.h"
#include "common/fs.h"
#include "sweep/runner.h"

namespace hyperrep::sweep {
namespace {

// Column order of results.csv by name, so that added columns do not break collection.
std::vector<ResultRow> read_results(const std::string& path, size_t run) {
  std::istringstream in(read_file(path));
  std::string line;
  HYPERREP_CHECK(std::getline(in, line), DataError, path, ": empty results file");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const auto header = parse_csv_line(line);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  for (const char* need : {"target", "method", "metric", "value"}) {
    HYPERREP_CHECK(col.count(need), DataError, path, ": no column '", need, "' in the header '", line, "'");
  }
  std::vector<ResultRow> rows;
  int line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto f = parse_csv_line(line);
    HYPERREP_CHECK(f.size() == header.size(), DataError, path, ":", line_no, ": ", f.size(), " fields, the header has ",
                   header.size());
    rows.push_back({run, f[col["target"]], f[col["method"]], f[col["metric"]], f[col["value"]]});
  }
  return rows;
}

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

}  // namespace

Collected collect(const Sweep& sweep) {
  Collected c;
  for (size_t i = 0; i < sweep.runs.size(); ++i) {
    const auto& run = sweep.runs[i];
    if (run_state(run) != RunState::kDone) {
      c.missing.push_back(run.name);
      continue;
    }
    auto rows = read_results(run.dir + "/results.csv", i);
    c.rows.insert(c.rows.end(), rows.begin(), rows.end());
  }
  return c;
}

std::string collected_csv(const Sweep& sweep, const Collected& c) {
  std::string out;
  for (const auto& a : sweep.axes) out += csv_field(a.key) + ",";
  out += "target,method,metric,value\n";
  for (const auto& r : c.rows) {
    for (const auto& v : sweep.runs[r.run].values) out += csv_field(v) + ",";
    out += csv_field(r.target) + "," + csv_field(r.method) + "," + csv_field(r.metric) + "," + csv_field(r.value) + "\n";
  }
  return out;
}

std::string collected_markdown(const Sweep& sweep, const Collected& c) {
  std::ostringstream os;
  os << "# Sweep " << sweep.name << "\n\n"
     << sweep.runs.size() - c.missing.size() << " of " << sweep.runs.size() << " runs complete (" << sweep.settings.mode
     << " over";
  for (const auto& a : sweep.axes) os << " " << a.key;
  os << "; base " << sweep.base << ").";
  if (!c.missing.empty()) {
    os << " Not complete:";
    for (const auto& m : c.missing) os << " `" << m << "`";
  }
  os << "\n";
  // Tables by (target, metric) in order of first appearance; methods as columns.
  std::vector<std::pair<std::string, std::string>> tables;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> methods;
  std::map<std::tuple<std::string, std::string, size_t, std::string>, std::string> value;
  for (const auto& r : c.rows) {
    const auto key = std::make_pair(r.target, r.metric);
    if (!methods.count(key)) tables.push_back(key);
    auto& m = methods[key];
    if (std::find(m.begin(), m.end(), r.method) == m.end()) m.push_back(r.method);
    value[{r.target, r.metric, r.run, r.method}] = r.value;
  }
  for (const auto& key : tables) {
    os << "\n## " << md_cell(key.first) << ": " << md_cell(key.second) << "\n\n|";
    const auto& m = methods[key];
    for (const auto& a : sweep.axes) os << " " << md_cell(a.key) << " |";
    if (sweep.axes.empty()) os << " run |";
    for (const auto& name : m) os << " " << md_cell(name) << " |";
    os << "\n|";
    for (size_t i = 0; i < std::max<size_t>(1, sweep.axes.size()) + m.size(); ++i) os << "---|";
    os << "\n";
    std::set<size_t> seen;
    for (const auto& r : c.rows) {
      if (r.target != key.first || r.metric != key.second || !seen.insert(r.run).second) continue;
      os << "|";
      for (const auto& v : sweep.runs[r.run].values) os << " " << md_cell(v) << " |";
      if (sweep.axes.empty()) os << " " << md_cell(sweep.runs[r.run].name) << " |";
      for (const auto& name : m) {
        auto it = value.find({key.first, key.second, r.run, name});
        os << " " << (it == value.end() ? "" : md_cell(it->second)) << " |";
      }
      os << "\n";
    }
  }
  return os.str();
}

void write_collected(const Sweep& sweep, const Collected& c) {
  make_dirs(sweep.settings.out);
  write_file_atomic(sweep.settings.out + "/results.csv", collected_csv(sweep, c));
  write_file_atomic(sweep.settings.out + "/results.md", collected_markdown(sweep, c));
}

}  // namespace hyperrep::sweep

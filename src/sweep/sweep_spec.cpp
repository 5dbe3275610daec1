#include "sweep/sweep_spec.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "common/format.h"
#include "common/fs.h"
#include "common/hash.h"

namespace hyperrep::sweep {
namespace {

namespace fs = std::filesystem;

std::string read_config_text(const std::string& path, const std::string& what) {
  HYPERREP_CHECK(path_exists(path), ConfigError, "cannot open ", what, " '", path, "'");
  return read_file(path);
}

// Rule issues (cross-field checks) carry the file as source and no line; a sweep file alone
// may break them (e.g. heads vs d_model) while every resolved run is fine.
bool is_rule_issue(const ConfigIssue& i, const std::string& source) {
  return i.source == source && i.line == 0 && !i.key.empty();
}

// Keys that the sweep sets itself for every run.
const std::set<std::string> kDerivedKeys = {"run.name", "run.dir", "zoo.path", "data.zoo"};

std::string short_hash(const std::string& s) {
  Fnv64 h;
  h.add(s);
  return h.hex().substr(8);  // the low 32 bits
}

// Joins "key=value" parts; names stay below common file-name limits (255 bytes).
std::string point_name(const std::vector<std::string>& parts) {
  std::string name;
  for (const auto& p : parts) name += (name.empty() ? "" : "__") + sanitize_name(p);
  if (name.size() > 200) name = name.substr(0, 190) + "_" + short_hash(name);
  return name;
}

// Checks one axis against the config it applies to: every value goes through the config's own
// parser, so types, ranges and choices are those of `hyperrep config check`.
void validate_axis(const Axis& axis, const Config& resolved) {
  // sweep.ranks is the one [sweep] key with a meaning per run (ranks of that run: a scaling axis).
  HYPERREP_CHECK(kDerivedKeys.count(axis.key) == 0 && (axis.key.rfind("sweep.", 0) != 0 || axis.key == "sweep.ranks"),
                 ConfigError, "sweep axis '", axis.key,
                 "': the sweep sets this key itself (run.name, run.dir, zoo.path, data.zoo, [sweep] but sweep.ranks)");
  for (const auto& v : axis.values) {
    Config c = resolved;
    for (const auto& issue : parse_config("", "<axis>", {axis.key + "=" + v}, c)) {
      if (issue.source != "--set") continue;
      HYPERREP_THROW(ConfigError, "sweep axis '", axis.key, "' value '", v, "': ", issue.message);
    }
  }
}

// Indices into each axis's values, in run order: the first axis varies slowest.
std::vector<std::vector<size_t>> expand_points(const std::vector<Axis>& axes, const std::string& mode) {
  std::vector<std::vector<size_t>> points;
  if (axes.empty()) return {{}};
  if (mode == "zip") {
    for (const auto& a : axes) {
      HYPERREP_CHECK(a.values.size() == axes[0].values.size(), ConfigError, "sweep.mode = zip needs axes of one length: '",
                     axes[0].key, "' has ", axes[0].values.size(), " values, '", a.key, "' has ", a.values.size());
    }
    for (size_t i = 0; i < axes[0].values.size(); ++i) points.push_back(std::vector<size_t>(axes.size(), i));
    return points;
  }
  std::vector<size_t> idx(axes.size(), 0);
  while (true) {
    points.push_back(idx);
    size_t k = axes.size();
    while (k > 0) {
      --k;
      if (++idx[k] < axes[k].values.size()) break;
      idx[k] = 0;
      if (k == 0) return points;
    }
  }
}

}  // namespace

std::string sanitize_name(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == '=' || c == '+' || c == '-';
    out += ok ? c : '_';
  }
  return out;
}

Axis parse_axis(const std::string& text) {
  const auto eq = text.find('=');
  HYPERREP_CHECK(eq != std::string::npos, ConfigError, "sweep axis '", text, "': expected \"section.key=v1,v2,...\"");
  Axis axis;
  axis.key = trim(text.substr(0, eq));
  HYPERREP_CHECK(axis.key.find('.') != std::string::npos, ConfigError, "sweep axis '", text,
                 "': expected \"section.key=v1,v2,...\"");
  axis.zoo = axis.key.rfind("zoo.", 0) == 0;
  const std::string rest = text.substr(eq + 1);
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (char c : rest) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[') {
      ++depth;
    } else if (c == ']') {
      --depth;
    } else if (c == ',' && depth == 0) {
      axis.values.push_back(trim(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  axis.values.push_back(trim(cur));
  for (const auto& v : axis.values) {
    HYPERREP_CHECK(!v.empty(), ConfigError, "sweep axis '", text, "': empty value");
  }
  std::set<std::string> seen(axis.values.begin(), axis.values.end());
  HYPERREP_CHECK(seen.size() == axis.values.size(), ConfigError, "sweep axis '", text, "': a value is repeated");
  return axis;
}

Sweep load_sweep(const std::string& path, const std::vector<std::string>& sets) {
  Sweep sweep;
  sweep.file = path;
  sweep.name = fs::path(path).stem().string();
  const std::string text = read_config_text(path, "sweep file");

  // The sweep file on its own: syntax, unknown keys, types (with lines).
  Config alone;
  std::vector<ConfigIssue> issues;
  for (auto& i : parse_config(text, path, sets, alone))
    if (!is_rule_issue(i, path)) issues.push_back(i);
  if (!issues.empty()) throw ConfigErrors(std::move(issues));
  sweep.settings = alone.sweep;
  HYPERREP_CHECK(!sweep.settings.base.empty(), ConfigError, path,
                 ": sweep.base is required (the base config, relative to the sweep file)");

  fs::path base(sweep.settings.base);
  if (base.is_relative()) base = fs::path(path).parent_path() / base;
  sweep.base = base.lexically_normal().string();
  const std::string base_text = read_config_text(sweep.base, "sweep.base config");
  Config base_cfg;
  auto base_issues = parse_config(base_text, sweep.base, {}, base_cfg);
  if (!base_issues.empty()) throw ConfigErrors(std::move(base_issues));
  Config shared = base_cfg;
  parse_config(text, path, sets, shared);  // file errors were reported above; rules wait for the runs

  std::set<std::string> keys;
  for (const auto& a : sweep.settings.axes) {
    Axis axis = parse_axis(a);
    HYPERREP_CHECK(keys.insert(axis.key).second, ConfigError, "sweep axis '", axis.key, "' appears twice");
    validate_axis(axis, shared);
    sweep.axes.push_back(std::move(axis));
  }

  const std::string out = sweep.settings.out;
  std::set<std::string> names;
  for (const auto& point : expand_points(sweep.axes, sweep.settings.mode)) {
    SweepRun run;
    std::vector<std::string> parts, zoo_parts;
    for (size_t a = 0; a < sweep.axes.size(); ++a) {
      const auto& axis = sweep.axes[a];
      const std::string part = axis.key + "=" + axis.values[point[a]];
      run.values.push_back(axis.values[point[a]]);
      run.overrides.push_back(part);
      parts.push_back(part);
      if (axis.zoo) zoo_parts.push_back(part);
    }
    run.name = parts.empty() ? "base" : point_name(parts);
    HYPERREP_CHECK(names.insert(run.name).second, ConfigError, "two runs of the sweep get the name '", run.name,
                   "' (values that differ only in characters replaced by '_')");
    run.dir = out + "/runs/" + run.name;
    run.zoo_dir = zoo_parts.empty() ? shared.zoo.path : out + "/zoos/" + point_name(zoo_parts);
    run.overrides.push_back("run.name=" + run.name);
    run.overrides.push_back("run.dir=" + run.dir);
    run.overrides.push_back("zoo.path=" + run.zoo_dir);
    run.overrides.push_back("data.zoo=" + run.zoo_dir);

    run.config = base_cfg;
    std::vector<std::string> all_sets = sets;
    all_sets.insert(all_sets.end(), run.overrides.begin(), run.overrides.end());
    auto run_issues = parse_config(text, path, all_sets, run.config);
    for (auto& i : run_issues) i.message = "run " + run.name + ": " + i.message;
    if (!run_issues.empty()) throw ConfigErrors(std::move(run_issues));
    sweep.runs.push_back(std::move(run));
  }
  return sweep;
}

const SweepRun& find_run(const Sweep& sweep, const std::string& name) {
  std::string names;
  for (const auto& r : sweep.runs) {
    if (r.name == name) return r;
    names += "\n  " + r.name;
  }
  HYPERREP_THROW(UsageError, "no run named '", name, "' in ", sweep.file, "; runs:", names);
}

}  // namespace hyperrep::sweep

// A sweep file expanded into runs: the [sweep] axes (grid or zip) over any config key (and
// sweep.ranks: MPI ranks per run), each run
// a resolved Config (base file + the sweep file's sections + its axis values) with a stable
// name, its own run directory and a zoo directory shared by the runs with the same zoo.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"

namespace hyperrep::sweep {

struct Axis {
  std::string key;                  // "zoo.num_seeds"
  std::vector<std::string> values;  // as written, e.g. {"50", "100"}
  bool zoo = false;                 // a [zoo] key: changes the zoo the run trains on
};

struct SweepRun {
  std::string name;                    // "zoo.num_seeds=50__model.d_model=64"
  std::vector<std::string> values;     // one per axis, as written
  std::vector<std::string> overrides;  // "section.key=value" applied on top of base + sweep file
  std::string dir;                     // out/runs/<name>
  std::string zoo_dir;                 // zoo.path of the run
  Config config;                       // resolved; config.sweep.ranks = this run's ranks
};

struct Sweep {
  std::string file;      // the sweep file
  std::string base;      // the base config, resolved against the sweep file's directory
  std::string name;      // stem of the sweep file
  SweepConfig settings;  // the [sweep] section
  std::vector<Axis> axes;
  std::vector<SweepRun> runs;
};

// Reads a sweep file; sets ("section.key=value") apply to every run and to [sweep] itself.
// Throws ConfigError naming the axis and value for a bad axis (with the key suggestion), and
// ConfigErrors with file and line for bad keys of the sweep file.
Sweep load_sweep(const std::string& path, const std::vector<std::string>& sets = {});

// "zoo.num_seeds=50,100" -> {key, values}; commas inside [...] or quotes do not split.
Axis parse_axis(const std::string& text);

// Letters, digits and ._=+- kept, anything else '_' (a file name on every file system).
std::string sanitize_name(const std::string& s);

// The run names of --only: a run by its exact name; throws UsageError listing the names.
const SweepRun& find_run(const Sweep& sweep, const std::string& name);

}  // namespace hyperrep::sweep

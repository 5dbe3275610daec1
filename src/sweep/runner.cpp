#include "sweep/runner.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <ostream>
#include <sstream>

#include "common/fs.h"
#include "common/process.h"
#include "sweep/sbatch_template.h"

namespace hyperrep::sweep {
namespace {

std::string failed_marker(const SweepRun& run) { return run.dir + "/SWEEP_FAILED"; }

std::string absolute(const std::string& p) { return std::filesystem::absolute(p).lexically_normal().string(); }

std::string fill_template(std::string text, const std::map<std::string, std::string>& fields) {
  for (const auto& [key, value] : fields) {
    const std::string token = "{{" + key + "}}";
    for (size_t pos = text.find(token); pos != std::string::npos; pos = text.find(token, pos + value.size())) {
      text.replace(pos, token.size(), value);
    }
  }
  const auto left = text.find("{{");
  if (left != std::string::npos) {
    const auto end = text.find("}}", left);
    HYPERREP_CHECK(end == std::string::npos, ConfigError, "sbatch template: unknown field ", text.substr(left, end + 2 - left),
                   " (fields: JOB_NAME LAST_TASK RANKS RUN_RANKS OUT WORKDIR HYPERREP RUN_NAMES ZOO_DIRS)");
  }
  return text;
}

}  // namespace

const char* state_name(RunState s) {
  switch (s) {
    case RunState::kDone: return "done";
    case RunState::kFailed: return "failed";
    default: return "pending";
  }
}

RunState run_state(const SweepRun& run) {
  if (path_exists(run.dir + "/DONE_RUN")) return RunState::kDone;
  if (path_exists(failed_marker(run))) return RunState::kFailed;
  return RunState::kPending;
}

StatusCounts count_states(const Sweep& sweep) {
  StatusCounts c;
  for (const auto& r : sweep.runs) {
    switch (run_state(r)) {
      case RunState::kDone: ++c.done; break;
      case RunState::kFailed: ++c.failed; break;
      default: ++c.pending;
    }
  }
  return c;
}

LaunchOptions default_launch() {
  LaunchOptions l;
  l.binary = self_executable_dir() + "/hyperrep";
  if (const char* env = std::getenv("HYPERREP_MPIRUN"); env && *env) {
    std::istringstream is(env);
    for (std::string w; is >> w;) l.mpirun.push_back(w);
  } else {
    l.mpirun = {"mpirun", "--oversubscribe", "--bind-to", "none"};
    if (geteuid() == 0) l.mpirun.push_back("--allow-run-as-root");
  }
  return l;
}

std::string run_config_path(const SweepRun& run) { return run.dir + "/sweep_config.toml"; }

void write_run_config(const SweepRun& run) {
  make_dirs(run.dir);
  write_file_atomic(run_config_path(run),
                    "# Resolved config of sweep run " + run.name + " (written by hyperrep sweep).\n" + to_toml(run.config));
}

std::vector<std::string> run_command(const SweepRun& run, const LaunchOptions& launch) {
  std::vector<std::string> cmd;
  const int64_t ranks = run.config.sweep.ranks;
  if (ranks > 1) {
    cmd = launch.mpirun;
    cmd.push_back("-np");
    cmd.push_back(std::to_string(ranks));
  }
  cmd.push_back(launch.binary);
  cmd.push_back("run");
  cmd.push_back("--config");
  cmd.push_back(run_config_path(run));
  return cmd;
}

std::string plan_text(const Sweep& sweep, const LaunchOptions& launch) {
  std::ostringstream os;
  os << "sweep " << sweep.name << ": " << sweep.runs.size() << " run" << (sweep.runs.size() == 1 ? "" : "s") << " ("
     << sweep.settings.mode << " over " << sweep.axes.size() << " ax" << (sweep.axes.size() == 1 ? "is" : "es") << "), base "
     << sweep.base << ", out " << sweep.settings.out << ", " << sweep.settings.ranks << " rank"
     << (sweep.settings.ranks == 1 ? "" : "s") << " per run\n";
  for (const auto& r : sweep.runs) {
    os << "\n"
       << r.name << "  [" << state_name(run_state(r)) << "]\n  dir: " << r.dir << "\n  zoo: " << r.zoo_dir << "\n  overrides:";
    for (size_t i = 0; i < sweep.axes.size(); ++i) os << " " << r.overrides[i];
    os << "\n  command: " << shell_join(run_command(r, launch)) << "\n";
  }
  return os.str();
}

RunSummary run_sweep(const Sweep& sweep, const LaunchOptions& launch, const std::string& only, bool dry_run, std::ostream& log) {
  RunSummary summary;
  std::vector<const SweepRun*> runs;
  if (!only.empty()) runs.push_back(&find_run(sweep, only));
  else
    for (const auto& r : sweep.runs) runs.push_back(&r);
  size_t index = 0;
  for (const SweepRun* run : runs) {
    ++index;
    const std::string tag = "[" + std::to_string(index) + "/" + std::to_string(runs.size()) + "] " + run->name;
    if (run_state(*run) == RunState::kDone) {
      log << tag << ": complete, skipped\n";
      ++summary.skipped;
      continue;
    }
    const auto cmd = run_command(*run, launch);
    if (dry_run) {
      log << tag << ": would run " << shell_join(cmd) << "\n";
      continue;
    }
    write_run_config(*run);
    std::filesystem::remove(failed_marker(*run));
    log << tag << ": " << shell_join(cmd) << std::endl;
    const int rc = run_process(cmd);
    ++summary.ran;
    if (rc == 0 && path_exists(run->dir + "/DONE_RUN")) {
      log << tag << ": done" << std::endl;
      continue;
    }
    const int code = rc == 0 ? 1 : rc;  // exit 0 without DONE_RUN is a failure too
    write_file_atomic(failed_marker(*run), std::to_string(code) + "\n");
    log << tag << ": FAILED (exit code " << rc << (rc == 0 ? ", no DONE_RUN" : "") << "); the sweep goes on" << std::endl;
    summary.failed.push_back(run->name);
  }
  return summary;
}

std::string slurm_script(const Sweep& sweep, const LaunchOptions& launch, const std::string& workdir, const std::string& tmpl) {
  HYPERREP_CHECK(!sweep.runs.empty(), ConfigError, "sweep ", sweep.file, " has no runs");
  std::string names, zoos, ranks;
  int64_t max_ranks = 1;
  for (const auto& r : sweep.runs) {
    names += "  " + shell_quote(r.name) + "\n";
    zoos += "  " + shell_quote(r.zoo_dir) + "\n";
    ranks += (ranks.empty() ? "" : " ") + std::to_string(r.config.sweep.ranks);
    max_ranks = std::max(max_ranks, r.config.sweep.ranks);
  }
  if (!names.empty()) names.pop_back();
  if (!zoos.empty()) zoos.pop_back();
  const std::map<std::string, std::string> fields = {
      {"JOB_NAME", sanitize_name("sweep_" + sweep.name)},
      {"LAST_TASK", std::to_string(sweep.runs.size() - 1)},
      {"RANKS", std::to_string(max_ranks)},
      {"RUN_RANKS", ranks},
      {"OUT", shell_quote(sweep.settings.out)},
      {"WORKDIR", shell_quote(workdir)},
      {"HYPERREP", shell_quote(launch.binary)},
      {"RUN_NAMES", names},
      {"ZOO_DIRS", zoos},
  };
  return fill_template(tmpl.empty() ? std::string(kSbatchTemplate) : tmpl, fields);
}

std::string write_slurm_script(const Sweep& sweep, const LaunchOptions& launch, const std::string& tmpl) {
  for (const auto& r : sweep.runs)
    if (run_state(r) != RunState::kDone) write_run_config(r);
  make_dirs(sweep.settings.out + "/logs");
  const std::string path = sweep.settings.out + "/sweep.sbatch";
  // #SBATCH --output is read before the script runs, from the submit directory: keep it absolute.
  Sweep abs = sweep;
  abs.settings.out = absolute(sweep.settings.out);
  for (auto& r : abs.runs) {
    r.dir = abs.settings.out + "/runs/" + r.name;
  }
  write_file_atomic(path, slurm_script(abs, launch, std::filesystem::current_path().string(), tmpl));
  std::filesystem::permissions(path, std::filesystem::perms::owner_exec, std::filesystem::perm_options::add);
  return path;
}

}  // namespace hyperrep::sweep

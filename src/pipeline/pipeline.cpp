#include "pipeline/pipeline.h"

#include <cstdio>
#include <fstream>

#include "common/error.h"
#include "common/format.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/logging.h"
#include "common/plot.h"
#include "common/runtime.h"
#include "population/generate.h"
#include "probe/probe_runner.h"
#include "train/evaluation.h"
#include "train/trainer.h"

namespace hyperrep::pipeline {
namespace {

// A loss curve per method from each run's metrics.jsonl, drawn with gnuplot when installed.
// gnuplot runs inside RUN/plots and the script names only files of fixed names there, so the
// run directory (a user's path, which may hold quotes or $()) never enters the script.
std::string plot_losses(const std::string& dir, const std::vector<std::pair<std::string, double>>& methods) {
  if (!gnuplot_available()) return "";
  const std::string plots = dir + "/plots";
  std::string plot;
  for (const auto& [name, gamma] : methods) {
    const std::string metrics = dir + "/" + name + "/metrics.jsonl";
    if (!path_exists(metrics)) continue;
    // gnuplot reads "epoch loss" columns; take them from the JSON lines.
    std::ifstream in(metrics);
    std::string line, table;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      JsonValue row;
      try {
        row = parse_json(line, metrics + " line " + std::to_string(n));
      } catch (const DataError&) {
        continue;  // a line cut off by a kill: the plot leaves it out, the run goes on
      }
      const JsonValue* epoch = row.find("epoch");
      const JsonValue* loss = row.find("loss");
      if (!epoch || !loss || epoch->kind != JsonKind::kNumber || loss->kind != JsonKind::kNumber) continue;
      table += format_double(epoch->number) + " " + format_double(loss->number) + "\n";
    }
    const std::string data = name + "_loss.dat";  // run.methods are E_D, E_C, E_cD: plain names
    write_file_atomic(plots + "/" + data, table);
    plot +=
        std::string(plot.empty() ? "plot " : ", ") + gnuplot_quote(data) + " using 1:2 with lines title " + gnuplot_quote(name);
  }
  if (plot.empty()) return "";
  const std::string script =
      "set terminal pngcairo size 800,500 noenhanced\nset output 'loss.png'\n"
      "set xlabel 'epoch'\nset ylabel 'training loss'\nset logscale y\n" +
      plot + "\n";
  return run_gnuplot("gnuplot", plots, "loss.gp", script) == 0 ? plots + "/loss.png" : "";
}

}  // namespace

std::vector<std::pair<std::string, double>> pipeline_methods(const Config& cfg) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& m : cfg.run.methods) out.push_back({m, m == "E_D" ? 0.0 : m == "E_C" ? 1.0 : cfg.loss.gamma});
  return out;
}

PipelineResult run_pipeline(const Config& in, dist::Communicator& comm) {
  Config cfg = in;
  const std::string& dir = cfg.run.dir;
  PipelineResult result;
  result.report = dir + "/report.md";
  if (path_exists(dir + "/DONE_RUN")) {
    spdlog::info("{} is complete (DONE_RUN); delete it to run again", dir);
    result.table = read_file(dir + "/table.md");
    return result;
  }
  if (cfg.data.zoo != cfg.zoo.path) {
    spdlog::warn("the config names data.zoo = {}, but hyperrep run trains on the zoo it generates: zoo.path = {}", cfg.data.zoo,
                 cfg.zoo.path);
    cfg.data.zoo = cfg.zoo.path;
  }
  if (comm.rank() == 0) make_dirs(dir);
  if (!path_exists(cfg.zoo.path + "/manifest")) {
    const int threads = use_threads_for(ThreadStage::kGeneral);
    spdlog::info("stage 1/3: generating the zoo at {} ({} thread(s) per rank)", cfg.zoo.path, threads);
    population::generate_zoo(cfg, comm.host());
  } else {
    population::check_zoo_matches_config(cfg);
    spdlog::info("stage 1/3: zoo {} exists", cfg.zoo.path);
  }
  comm.barrier();

  std::vector<probe::ProbeResult> results;
  std::vector<std::string> columns = {"W", "s(W)"};
  const auto methods = pipeline_methods(cfg);
  for (const auto& [name, gamma] : methods) {
    Config mcfg = cfg;
    mcfg.loss.gamma = gamma;
    mcfg.run.dir = dir + "/" + name;
    train::Trainer trainer(mcfg, comm);
    const auto latest = trainer.checkpoints().latest_complete();
    bool finished = false;
    if (latest) {
      trainer.check_resume_config();
      trainer.load_checkpoint(*latest);
      finished = trainer.state().epoch >= mcfg.train.epochs;
    }
    if (!finished) {
      const int threads = use_threads_for(training_thread_stage(cfg.run.device));
      spdlog::info("stage 2/3: training {} (gamma {}) in {} ({} thread(s) per rank)", name, gamma, mcfg.run.dir, threads);
      if (trainer.run(latest.has_value()).stopped_by_signal) {
        // Saved and stopped (e.g. Slurm's warning): no results, no DONE_RUN; rerunning resumes.
        spdlog::info("{} stopped by a signal after its checkpoint; rerun the same command to resume", name);
        result.interrupted = true;
        return result;
      }
    } else {
      spdlog::info("stage 2/3: {} already trained ({} epochs)", name, trainer.state().epoch);
    }
    use_threads_for(ThreadStage::kGeneral);  // embedding and probes
    auto part = train::probe_features(name, trainer.data(), {trainer.embed("train"), trainer.embed("val"), trainer.embed("test")},
                                      mcfg, comm.host());
    results.insert(results.end(), part.begin(), part.end());
    columns.push_back(name);
  }
  spdlog::info("stage 3/3: baselines W and s(W)");
  train::TrainData data(cfg, comm.host());
  auto base = train::probe_baselines(data, cfg, comm.host());
  results.insert(results.begin(), base.begin(), base.end());
  result.table = probe::results_table(results, columns);
  if (comm.rank() == 0) {
    const std::string plot = plot_losses(dir, methods);
    std::string report = "# " + cfg.run.name + "\n\nZoo: `" + cfg.zoo.path + "` (" + std::to_string(data.reader().num_members()) +
                         " members, " + std::to_string(data.reader().num_checkpoints()) +
                         " checkpoints). Test-split probes: R^2 and accuracy in %, Kendall's tau as is.\n\n" + result.table;
    if (!plot.empty()) report += "\nTraining loss per epoch: ![loss](plots/loss.png)\n";
    write_file_atomic(dir + "/results.csv", probe::results_csv(results));
    write_file_atomic(dir + "/table.md", result.table);
    write_file_atomic(result.report, report);
    write_file_atomic(dir + "/DONE_RUN", "");
  }
  comm.barrier();
  return result;
}

}  // namespace hyperrep::pipeline

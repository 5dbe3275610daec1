// hyperrep probe | embed | baseline: downstream evaluation of a trained run's checkpoint (probes,
// optionally on an out-of-distribution zoo), export of its embeddings, and the W / s(W) baselines.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "common/config.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/logging.h"
#include "common/runtime.h"
#include "interop/npy.h"
#include "launch/args.h"
#include "launch/commands.h"
#include "pipeline/embeddings.h"
#include "store/manifest.h"
#include "train/evaluation.h"
#include "train/trainer.h"
#include "zoo/architecture.h"
#include "zoo/compatibility.h"

namespace hyperrep::cli {
namespace {

constexpr const char* kProbeUsage = R"(usage: [mpirun -np N] hyperrep probe --run RUN [--epoch N] [--ood-zoo ZOO]
  Probes the embeddings of a trained run (RUN = run.dir of `hyperrep train`, or one method's
  directory of `hyperrep run`) with the probes of its config; prints the table and writes
  RUN/probe_epoch_NNNN.csv (target,method,metric,value,lambda).
  --epoch N      checkpoint to load (default: the latest complete one)
  --ood-zoo ZOO  also embed every checkpoint of every member of ZOO (same architecture; the
                 filters of [data]) and report ood_r2 / ood_tau / ood_acc of the same probes
)";

constexpr const char* kEmbedUsage = R"(usage: [mpirun -np N] hyperrep embed --run RUN [--epoch N] --out DIR
  Writes the embeddings of every row of the run's zoo as DIR/embeddings.npy (float32 [N, latent])
  and DIR/properties.csv (split, member, epoch, numeric then categorical properties) in the same
  row order: train, val, test; within a split by (member, epoch). Identical at any world size.
  --epoch N  checkpoint to load (default: the latest complete one)
)";

constexpr const char* kBaselineUsage =
    R"(usage: [mpirun -np N] hyperrep baseline --zoo ZOO [--config FILE] [--set k=v]... [--out FILE.csv]
  Runs the probes of [probe] on the baselines W (raw flat weights) and s(W) (per-layer weight
  statistics) of ZOO's train/val/test split of [data] and prints the table.
  --out FILE.csv  also write the results (target,method,metric,value,lambda)
)";

std::string epoch_dir_name(int64_t epoch) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(epoch));
  return buf;
}

// The run's resolved config with run.dir pointing at RUN.
Config load_run_config(const std::string& run) {
  const std::string path = run + "/config.toml";
  HYPERREP_CHECK(path_exists(path), UsageError, "no run at ", run, ": ", path,
                 " is missing (pass the run.dir of `hyperrep train` or a method directory of `hyperrep run`)");
  Config cfg = load_config(path);
  cfg.run.dir = run;
  // config.toml spells out every key, defaults included: its probe.targets were checked (or cut
  // down from the defaults) when the run trained, so they count as defaults here.
  cfg.origins.erase("probe.targets");
  // A relative data.zoo means the directory training ran in (RUN/workdir), not ours.
  if (!cfg.data.zoo.empty() && cfg.data.zoo.front() != '/') {
    const std::string recorded = run + "/workdir";
    const std::string cwd = std::filesystem::current_path().string();
    const std::string base = path_exists(recorded) ? read_file(recorded, 1 << 16) : cwd;
    std::string resolved = base + "/" + cfg.data.zoo;
    if (!path_exists(resolved + "/manifest") && path_exists(cfg.data.zoo + "/manifest")) resolved = cwd + "/" + cfg.data.zoo;
    HYPERREP_CHECK(
        path_exists(resolved + "/manifest"), DataError, "run ", run, " trained on zoo '", cfg.data.zoo, "', taken against ", base,
        path_exists(recorded) ? " (where training ran, from " + recorded + ")" : std::string(" (the current directory)"), ": ",
        resolved, " is incomplete or missing");
    cfg.data.zoo = resolved;
  }
  return cfg;
}

struct LoadedRun {
  Config cfg;
  std::unique_ptr<dist::Communicator> comm;
  std::unique_ptr<train::Trainer> trainer;
  int64_t epoch = 0;
};

LoadedRun load_run(Context& ctx, const Args& args) {
  LoadedRun r;
  const std::string run = args.required("--run");
  r.cfg = load_run_config(run);
  r.comm = start(ctx, r.cfg);
  r.trainer = std::make_unique<train::Trainer>(r.cfg, *r.comm);
  const auto epochs = r.trainer->checkpoints().complete_epochs();
  HYPERREP_CHECK(!epochs.empty(), UsageError, "run ", run, " has no complete checkpoint under ", r.trainer->checkpoints().root());
  r.epoch = epochs.back();
  if (args.value("--epoch")) {
    r.epoch = args.int_or("--epoch", -1);
    if (std::find(epochs.begin(), epochs.end(), r.epoch) == epochs.end()) {
      std::string list;
      for (auto e : epochs) list += (list.empty() ? "" : ", ") + std::to_string(e);
      HYPERREP_THROW(UsageError, "run ", run, " has no complete checkpoint of epoch ", r.epoch, "; available epochs: ", list);
    }
  }
  r.trainer->load_checkpoint(r.epoch);
  spdlog::info("loaded {} epoch {}", run, r.epoch);
  return r;
}

std::vector<torch::Tensor> embed_splits(train::Trainer& trainer) {
  return {trainer.embed("train"), trainer.embed("val"), trainer.embed("test")};
}

// This rank's share of every member of the OOD zoo, embedded by the run's encoder.
struct OodData {
  std::unique_ptr<store::ZooReader> reader;
  std::unique_ptr<data::ZooDataset> rows;
  probe::ProbeSplit split;
};

OodData embed_ood(const std::string& dir, LoadedRun& r) {
  OodData o;
  o.reader = std::make_unique<store::ZooReader>(dir);
  const auto& want = r.trainer->data().reader().header();
  const auto& have = o.reader->header();
  // The encoder reads parameter layouts, not layer lists: a zoo whose members differ only in
  // parameter-free layers (a hyper-parameter zoo's dropout, another input size under global
  // pooling) is the paper's transfer experiment. Convolutions that differ in stride or padding
  // are other functions of the same weights: refused.
  const auto cmp = zoo::compare_architectures(zoo::Architecture::parse(want.architecture, want.input_shape),
                                              zoo::Architecture::parse(have.architecture, have.input_shape));
  std::string lines;
  for (const auto& d : cmp.differences) lines += "  " + d + "\n";
  HYPERREP_CHECK(cmp.same_parameters, UsageError, "OOD zoo ", dir, " has another architecture than the run's zoo ",
                 r.cfg.data.zoo, " (run's zoo vs OOD zoo):\n", lines);
  if (!cmp.differences.empty() && r.comm->rank() == 0)
    spdlog::warn("OOD zoo {} has the parameter layout of the run's zoo {}; it differs only in (run's zoo vs OOD zoo):\n{}", dir,
                 r.cfg.data.zoo, lines);
  std::vector<int64_t> all(static_cast<size_t>(o.reader->num_members()));
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  o.rows = std::make_unique<data::ZooDataset>(*o.reader, train::members_of_rank(all, r.comm->rank(), r.comm->world_size()),
                                              data::ZooFilter::from_config(r.cfg.data));
  auto w = o.rows->weights();
  if (r.trainer->data().standardized()) w = r.trainer->data().standardizer().standardize(w);
  o.split = train::make_probe_split(*o.rows, r.trainer->embed_weights(w), r.cfg.probe.targets);
  return o;
}

}  // namespace

int cmd_probe(Context& ctx) {
  Args args(ctx.args, {"--run", "--epoch", "--ood-zoo"}, {});
  if (args.help()) {
    std::cout << kProbeUsage;
    return 0;
  }
  HYPERREP_CHECK(args.positional().empty(), UsageError, "probe takes no positional argument\n", kProbeUsage);
  auto r = load_run(ctx, args);
  const std::string method = train::method_name(r.cfg.loss.gamma);
  const auto features = embed_splits(*r.trainer);
  std::optional<OodData> ood;
  if (auto dir = args.value("--ood-zoo")) ood = embed_ood(*dir, r);
  const auto results = train::probe_features(method, r.trainer->data(), features, r.cfg, *r.comm, ood ? &ood->split : nullptr);
  HYPERREP_CHECK(!results.empty(), ConfigError, "none of probe.targets is a property of the zoo ", r.cfg.data.zoo);
  if (r.comm->rank() == 0) {
    const std::string path = r.cfg.run.dir + "/probe_epoch_" + epoch_dir_name(r.epoch) + ".csv";
    write_file_atomic(path, probe::results_csv(results));
    std::cout << probe::results_table(results, {method});
    if (ood) {
      for (const auto& res : results) {
        if (res.metric == "ood_r2") std::printf("ood %s: R^2 %.4f\n", res.target.c_str(), res.value);
        if (res.metric == "ood_tau") std::printf("ood %s: Kendall tau %.4f\n", res.target.c_str(), res.value);
        if (res.metric == "ood_acc") std::printf("ood %s: accuracy %.4f\n", res.target.c_str(), res.value);
      }
    }
    std::cout << "wrote " << path << "\n";
  }
  return 0;
}

int cmd_embed(Context& ctx) {
  Args args(ctx.args, {"--run", "--epoch", "--out"}, {});
  if (args.help()) {
    std::cout << kEmbedUsage;
    return 0;
  }
  HYPERREP_CHECK(args.positional().empty(), UsageError, "embed takes no positional argument\n", kEmbedUsage);
  const std::string out = args.required("--out");
  auto r = load_run(ctx, args);
  const pipeline::EmbeddingExport ex = pipeline::export_embeddings(*r.trainer, *r.comm);
  if (r.comm->rank() == 0) {
    make_dirs(out);
    interop::write_npy(out + "/embeddings.npy", ex.z);
    write_file_atomic(out + "/properties.csv", ex.csv);
    std::cout << "wrote " << out << "/embeddings.npy and " << out << "/properties.csv (" << ex.z.size(0) << " rows, epoch "
              << r.epoch << ")\n";
  }
  r.comm->barrier();
  return 0;
}

int cmd_baseline(Context& ctx) {
  Args args(ctx.args, {"--zoo", "--config", "--out"}, {});
  if (args.help()) {
    std::cout << kBaselineUsage;
    return 0;
  }
  HYPERREP_CHECK(args.positional().empty(), UsageError, "baseline takes no positional argument\n", kBaselineUsage);
  const std::string zoo = args.required("--zoo");
  Config cfg = load_config_from(args);
  cfg.data.zoo = zoo;
  auto comm = start(ctx, cfg);
  train::TrainData data(cfg, *comm);
  const auto results = train::probe_baselines(data, cfg, *comm);
  HYPERREP_CHECK(!results.empty(), ConfigError, "none of probe.targets is a property of the zoo ", zoo);
  if (comm->rank() == 0) {
    std::cout << probe::results_table(results, {"W", "s(W)"});
    if (auto path = args.value("--out")) {
      write_file_atomic(*path, probe::results_csv(results));
      std::cout << "wrote " << *path << "\n";
    }
  }
  return 0;
}

}  // namespace hyperrep::cli

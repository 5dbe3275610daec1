// hyperrep checkpoint info|diff: what a run checkpoint holds, and how far two are apart.
#include <cmath>
#include <iostream>
#include <sstream>

#include "common/error.h"
#include "launch/args.h"
#include "launch/commands.h"
#include "train/checkpoint.h"
#include "train/train_state.h"

namespace hyperrep::cli {
namespace {

constexpr const char* kUsage = R"(usage:
  hyperrep checkpoint info DIR         files, sizes, training position, parameters by tensor
  hyperrep checkpoint diff DIR_A DIR_B max absolute and relative parameter difference (exit 0)
DIR is a checkpoint directory such as runs/x/checkpoints/epoch_0010.
)";

std::vector<std::pair<std::string, torch::Tensor>> parameters_of(const train::CheckpointFiles& files, const std::string& dir) {
  std::istringstream is(files.at("model.pt"));
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(is);
  } catch (const c10::Error& e) {
    HYPERREP_THROW(DataError, "cannot read '", dir, "/model.pt': ", e.what_without_backtrace());
  }
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& key : ar.keys()) {
    torch::Tensor t;
    if (ar.try_read(key, t)) out.push_back({key, t});
  }
  return out;
}

}  // namespace

int cmd_checkpoint(Context& ctx) {
  Args args(ctx.args, {}, {});
  const auto& pos = args.positional();
  if (args.help() || pos.empty()) {
    std::cout << kUsage;
    return pos.empty() && !args.help() ? 2 : 0;
  }
  if (pos[0] == "info") {
    HYPERREP_CHECK(pos.size() == 2, UsageError, "checkpoint info takes one DIR\n", kUsage);
    auto files = train::CheckpointManager::load_dir(pos[1]);
    auto state = train::deserialize_state(files.at("state.txt"), pos[1] + "/state.txt");
    std::cout << "checkpoint " << pos[1] << "\n";
    for (const auto& [name, bytes] : files) std::cout << "  " << name << ": " << bytes.size() << " bytes\n";
    std::cout << "epoch " << state.epoch << ", step in epoch " << state.step_in_epoch << ", global step " << state.global_step
              << ", lr " << state.lr << ", world size " << state.world_size << ", config hash " << state.config_hash << "\n";
    int64_t total = 0;
    for (const auto& [name, t] : parameters_of(files, pos[1])) {
      std::cout << "  " << name << " " << t.sizes() << "\n";
      total += t.numel();
    }
    std::cout << "parameters (with buffers): " << total << "\n";
    return 0;
  }
  if (pos[0] == "diff") {
    HYPERREP_CHECK(pos.size() == 3, UsageError, "checkpoint diff takes DIR_A DIR_B\n", kUsage);
    auto a = parameters_of(train::CheckpointManager::load_dir(pos[1]), pos[1]);
    auto b = parameters_of(train::CheckpointManager::load_dir(pos[2]), pos[2]);
    HYPERREP_CHECK(a.size() == b.size(), DataError, "the checkpoints hold different tensors (", a.size(), " vs ", b.size(), ")");
    double max_abs = 0, max_ref = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      HYPERREP_CHECK(a[i].first == b[i].first && a[i].second.sizes() == b[i].second.sizes(), DataError, "tensor '", a[i].first,
                     "' differs in name or shape between the checkpoints");
      auto da = a[i].second.to(torch::kFloat64), db = b[i].second.to(torch::kFloat64);
      max_abs = std::max(max_abs, (da - db).abs().max().item<double>());
      max_ref = std::max(max_ref, db.abs().max().item<double>());
    }
    std::cout << "tensors: " << a.size() << "\nmax_abs_diff: " << max_abs
              << "\nmax_rel_diff: " << (max_ref > 0 ? max_abs / max_ref : 0.0) << "\n";
    return 0;
  }
  HYPERREP_THROW(UsageError, "unknown verb 'checkpoint ", pos[0], "'\n", kUsage);
}

}  // namespace hyperrep::cli

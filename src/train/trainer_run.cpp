// The training loop of Trainer: epochs of global batches, schedules, stop signals, the
// watchdog, metrics, probes, and checkpoint save/resume.
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/logging.h"
#include "distributed/watchdog.h"
#include "probe/probe_runner.h"
#include "train/evaluation.h"
#include "train/sampler.h"
#include "train/schedule.h"
#include "train/signals.h"
#include "train/trainer.h"

namespace hyperrep::train {
namespace {

std::string serialize_module(const std::function<void(torch::serialize::OutputArchive&)>& fill) {
  torch::serialize::OutputArchive ar;
  fill(ar);
  std::ostringstream os;
  ar.save_to(os);
  return os.str();
}

void deserialize_module(const std::string& bytes, const std::string& where,
                        const std::function<void(torch::serialize::InputArchive&)>& use) {
  try {
    std::istringstream is(bytes);
    torch::serialize::InputArchive ar;
    ar.load_from(is);
    use(ar);
  } catch (const c10::Error& e) {
    HYPERREP_THROW(DataError, "cannot load '", where, "': ", e.what_without_backtrace());
  }
}

std::string probes_json(const std::vector<probe::ProbeResult>& results, int64_t epoch) {
  JsonWriter w;
  w.begin_object().key("epoch").value(epoch).key("results").begin_array();
  for (const auto& r : results) {
    w.begin_object().key("target").value(r.target).key("method").value(r.method).key("metric").value(r.metric);
    w.key("value").value(r.value).key("val_value").value(r.val_value).key("lambda").value(r.lambda).end_object();
  }
  return w.end_array().end_object().str();
}

// Fault injection for the robustness tests: HYPERREP_FAULT="hang:RANK:STEP" makes that rank
// stop responding after that step, "die:RANK:STEP" kills it (SIGKILL).
void inject_fault(int rank, int64_t step) {
  static const char* spec = std::getenv("HYPERREP_FAULT");
  if (spec == nullptr) return;
  char kind[8] = {0};
  int fault_rank = -1;
  long long fault_step = -1;
  if (std::sscanf(spec, "%7[a-z]:%d:%lld", kind, &fault_rank, &fault_step) != 3) return;
  if (fault_rank != rank || fault_step != step) return;
  spdlog::warn("HYPERREP_FAULT: rank {} {}s after step {}", rank, kind, step);
  if (std::string(kind) == "die") std::raise(SIGKILL);
  if (std::string(kind) == "hang") std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace

void Trainer::save_checkpoint(int64_t epoch_label, const std::string& probes) {
  // Every rank's default CPU generator. No training draw uses it any more (they are keyed by
  // sample: common/keyed_random.h); it is kept so that anything else drawing from it resumes
  // bit-exact at the same world size, and so that checkpoints keep their format.
  at::Generator default_gen = at::detail::getDefaultCPUGenerator();
  auto gen_state = default_gen.get_state();
  const std::string mine(reinterpret_cast<const char*>(gen_state.data_ptr<uint8_t>()), gen_state.numel());
  auto all = comm_.host().all_gather_bytes(mine);
  state_.rng_states.clear();
  for (const auto& s : all) state_.rng_states.push_back(to_hex(s));
  CheckpointFiles files;
  if (comm_.rank() == 0) {
    files["model.pt"] = serialize_module([&](auto& ar) { model_->save(ar); });
    files["optim.pt"] = serialize_module([&](auto& ar) { optimizer_->save(ar); });
    files["state.txt"] = serialize_state(state_);
    files["norm.pt"] = serialize_module([&](auto& ar) {
      ar.write("mean", data_->standardizer().mean());
      ar.write("std", data_->standardizer().std());
      ar.write("standardized", torch::tensor({data_->standardized() ? 1 : 0}));
    });
    if (!probes.empty()) files["probes.json"] = probes;
  }
  checkpoints_->save(comm_, epoch_label, files);
  spdlog::info("checkpoint {} (epoch {}, step {})", checkpoints_->dir_for(epoch_label), state_.epoch, state_.global_step);
}

void Trainer::check_resume_config() const {
  const std::string config_path = cfg_.run.dir + "/config.toml";
  if (!path_exists(config_path)) return;
  const auto diff = science_diff(load_config(config_path), cfg_);
  if (diff.empty()) return;
  std::string all;
  for (const auto& d : diff) all += "\n  " + d;
  HYPERREP_THROW(ConfigError, "cannot resume ", cfg_.run.dir,
                 ": the config differs from the run's in fields that change the science:", all);
}

void Trainer::check_saved_state(const TrainState& saved, int64_t label, const std::string& where) const {
  // The checksum in DONE says the file is the one written, not that what it says is possible: a
  // checkpoint is labelled with the epoch in progress when it was saved, and its step counters
  // follow from the epoch, the step within it and this config's batches per epoch.
  const int64_t per_epoch = GlobalSampler(data_->global_rows(), cfg_.train.batch_size, 0).batches_per_epoch();
  auto bad = [&](auto... parts) { HYPERREP_THROW(DataError, "'", where, "' cannot be resumed: ", parts...); };
  if (saved.epoch != label) bad("it says epoch ", saved.epoch, " but is the checkpoint of epoch ", label);
  if (saved.epoch < 0 || saved.epoch > cfg_.train.epochs)
    bad("epoch ", saved.epoch, " is outside 0..train.epochs = ", cfg_.train.epochs);
  if (saved.step_in_epoch < 0 || saved.step_in_epoch >= per_epoch)
    bad("step ", saved.step_in_epoch, " of an epoch of ", per_epoch, " steps");
  if (saved.global_step != saved.epoch * per_epoch + saved.step_in_epoch)
    bad("global step ", saved.global_step, " where epoch ", saved.epoch, " step ", saved.step_in_epoch, " at ", per_epoch,
        " steps per epoch gives ", saved.epoch * per_epoch + saved.step_in_epoch);
  if (!std::isfinite(saved.lr) || saved.lr < 0) bad("learning rate ", saved.lr);
  if (saved.world_size < 1) bad("world size ", saved.world_size);
}

void Trainer::load_checkpoint(int64_t epoch) {
  const std::string dir = checkpoints_->dir_for(epoch);
  auto files = checkpoints_->load(epoch);
  TrainState saved = deserialize_state(files.at("state.txt"), dir + "/state.txt");
  check_saved_state(saved, epoch, dir + "/state.txt");
  // torch's InputArchive replaces a parameter's shape without complaint: compare afterwards.
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  for (const auto& p : model_->named_parameters()) shapes.emplace_back(p.key(), p.value().sizes().vec());
  deserialize_module(files.at("model.pt"), dir + "/model.pt", [&](auto& ar) { model_->load(ar); });
  const auto loaded = model_->named_parameters();
  for (const auto& [name, want] : shapes) {
    const auto got = loaded[name].sizes().vec();
    HYPERREP_CHECK(got == want, DataError, "cannot load '", dir, "/model.pt': parameter ", name, " has shape ",
                   c10::IntArrayRef(got), " where the model of this config has ", c10::IntArrayRef(want),
                   " (trained with another [model] section?)");
  }
  model_->to(device_);
  deserialize_module(files.at("optim.pt"), dir + "/optim.pt", [&](auto& ar) { optimizer_->load(ar); });
  if (saved.world_size == comm_.world_size() && static_cast<int>(saved.rng_states.size()) == comm_.world_size()) {
    const std::string bytes = from_hex(saved.rng_states[comm_.rank()]);
    auto t = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
    std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
    at::Generator default_gen = at::detail::getDefaultCPUGenerator();
    default_gen.set_state(t);
  } else {
    spdlog::warn(
        "resuming at world size {} from a checkpoint saved at world size {}: the global batch ({}), the "
        "sample order, augmentations and dropout masks (keyed by seed, step and sample) continue unchanged",
        comm_.world_size(), saved.world_size, cfg_.train.batch_size);
    torch::manual_seed(static_cast<uint64_t>(cfg_.train.seed) + 7919u * static_cast<uint64_t>(comm_.rank() + saved.global_step));
  }
  const auto hash = state_.config_hash;
  state_ = saved;
  state_.config_hash = hash;
  state_.world_size = comm_.world_size();
  set_lr(saved.lr);
  spdlog::info("resumed from {} at epoch {}, step {} of the epoch ({} steps in all)", dir, state_.epoch, state_.step_in_epoch,
               state_.global_step);
}

std::string Trainer::run_probes(int64_t epoch) {
  auto results =
      probe_features(method_name(cfg_.loss.gamma), *data_, {embed("train"), embed("val"), embed("test")}, cfg_, comm_.host());
  if (results.empty()) return "";
  if (comm_.rank() == 0) {
    const std::string csv = cfg_.run.dir + "/probes.csv";
    if (!path_exists(csv)) append_line(csv, probe::probes_csv_header());
    for (const auto& row : probe::to_csv_rows(results, epoch)) append_line(csv, row);
    for (const auto& r : results) {
      spdlog::info("probe epoch {}: {} {} {} = {:.4f}", epoch, r.method, r.target, r.metric, r.value);
    }
  }
  return probes_json(results, epoch);
}

void Trainer::open_run_dir(bool resume) {
  const std::string& dir = cfg_.run.dir;
  if (resume) {
    check_resume_config();
    if (auto latest = checkpoints_->latest_complete()) load_checkpoint(*latest);
    else spdlog::warn("--resume: no complete checkpoint in {}; starting from scratch", dir);
  } else {
    HYPERREP_CHECK(!checkpoints_->latest_complete().has_value(), UsageError, "run directory ", dir,
                   " already holds checkpoints: pass --resume to continue it, or choose another run.dir");
  }
  comm_.barrier();
  if (comm_.rank() == 0) {
    make_dirs(dir);
    checkpoints_->clean_partial();
    write_file_atomic(dir + "/config.toml", to_toml(cfg_));
    // Relative paths in config.toml (data.zoo) mean this directory: recorded, so that `probe` and
    // `embed --run` find the zoo from anywhere.
    write_file_atomic(dir + "/workdir", std::filesystem::current_path().string());
    add_log_file(dir + "/log.txt");
  }
}

TrainResult Trainer::run(bool resume) {
  TrainResult result;
  const std::string& dir = cfg_.run.dir;
  open_run_dir(resume);
  MetricsWriter metrics(dir + "/metrics.jsonl", comm_.rank());
  install_stop_signal_handlers();
  dist::Watchdog watchdog(comm_.rank(), cfg_.distributed.timeout_s);

  GlobalSampler sampler(data_->global_rows(), cfg_.train.batch_size, static_cast<uint64_t>(cfg_.train.seed));
  const int64_t per_epoch = sampler.batches_per_epoch();
  const int64_t total_steps = per_epoch * cfg_.train.epochs;
  const std::string method = method_name(cfg_.loss.gamma);
  spdlog::info("training {} ({} parameters): {} rows, global batch {}, {} steps per epoch, {} epochs, {} rank(s)", method,
               model_->num_parameters(true), data_->global_rows(), cfg_.train.batch_size, per_epoch, cfg_.train.epochs,
               comm_.world_size());
  double t_start = now_s(), t_report = t_start;
  int64_t rows_since = 0;
  while (state_.epoch < cfg_.train.epochs) {
    for (; state_.step_in_epoch < per_epoch; ++state_.step_in_epoch) {
      if (scheduler_ == Scheduler::kCosine) {
        set_lr(cosine_lr(cfg_.train.lr, state_.global_step, cfg_.train.warmup_epochs * per_epoch, total_steps));
      }
      auto losses = step(sampler.batch(state_.epoch, state_.step_in_epoch));
      HYPERREP_CHECK(std::isfinite(losses.loss), DataError, "loss is not finite at epoch ", state_.epoch, " step ",
                     state_.global_step, " (lower train.lr or check the zoo for extreme weights)");
      ++state_.global_step;
      state_.epoch_loss_sum += losses.loss;
      ++state_.epoch_batches;
      rows_since += losses.rows;
      result.step_losses.push_back(losses);
      watchdog.beat(state_.global_step);
      inject_fault(comm_.rank(), state_.global_step);
      const bool step_limit = cfg_.train.max_steps > 0 && state_.global_step >= cfg_.train.max_steps;
      if (stop_requested() || step_limit) {
        ++state_.step_in_epoch;
        if (state_.step_in_epoch == per_epoch) state_.start_next_epoch();  // finished the epoch exactly
        watchdog.beat(state_.global_step, "checkpoint save");
        save_checkpoint(state_.epoch, "");
        result.stopped_by_signal = !step_limit;
        result.steps = state_.global_step;
        spdlog::info("stopped at step {} ({}); resume with --resume", state_.global_step,
                     step_limit ? "train.max_steps" : "signal");
        return result;
      }
    }
    const double epoch_loss = state_.epoch_loss_sum / std::max<int64_t>(1, state_.epoch_batches);
    const bool reduced = scheduler_ == Scheduler::kPlateau && plateau_step(cfg_.train, epoch_loss, state_);
    if (reduced) set_lr(state_.lr);
    const auto& last = result.step_losses.empty() ? StepLosses{} : result.step_losses.back();
    const double now = now_s();
    metrics.write({{"epoch", static_cast<double>(state_.epoch + 1)},
                   {"step", static_cast<double>(state_.global_step)},
                   {"loss", epoch_loss},
                   {"last_recon", last.recon},
                   {"last_contrast", last.contrast},
                   {"lr", state_.lr},
                   {"rows_per_s", rows_since / std::max(1e-9, now - t_report)},
                   {"elapsed_s", state_.elapsed_s + now - t_start}});
    if (comm_.rank() == 0 && (now - t_report > cfg_.run.progress_seconds || state_.epoch + 1 == cfg_.train.epochs)) {
      spdlog::info("epoch {}/{}: loss {:.5f}, lr {:.2e}, {:.0f} rows/s", state_.epoch + 1, cfg_.train.epochs, epoch_loss,
                   state_.lr, rows_since / std::max(1e-9, now - t_report));
      t_report = now;
      rows_since = 0;
    }
    result.last_epoch_loss = epoch_loss;
    state_.start_next_epoch();
    const bool last_epoch = state_.epoch == cfg_.train.epochs;
    const bool probe_now = last_epoch || (cfg_.probe.every_epochs > 0 && state_.epoch % cfg_.probe.every_epochs == 0);
    const bool save_now = last_epoch || state_.epoch % cfg_.checkpoint.every_epochs == 0;
    std::string probes;
    if (probe_now && save_now) {
      watchdog.beat(state_.global_step, "probes");
      probes = run_probes(state_.epoch);
    }
    if (save_now) {
      watchdog.beat(state_.global_step, "checkpoint save");
      state_.elapsed_s += now_s() - t_start;
      t_start = now_s();
      save_checkpoint(state_.epoch, probes);
    }
  }
  result.epochs_done = state_.epoch;
  result.steps = state_.global_step;
  return result;
}

}  // namespace hyperrep::train

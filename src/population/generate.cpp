#include "population/generate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <sstream>

#include "common/clock.h"
#include "common/error.h"
#include "common/runtime.h"
#include "population/population.h"
#include "store/manifest.h"
#include "tasks/image_data.h"
#include "zoo/zoo_spec.h"

namespace hyperrep::population {
namespace {

std::string zoo_section_toml(const Config& cfg) {
  std::istringstream in(to_toml(cfg));
  std::ostringstream out;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '[') inside = line == "[zoo]";
    if (!inside || line.rfind("path =", 0) == 0 || line.rfind("population_size =", 0) == 0) continue;
    out << line << "\n";
  }
  return out.str();
}

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e8) return "?";
  const auto t = static_cast<int64_t>(s + 0.5);
  std::ostringstream os;
  if (t >= 3600) os << t / 3600 << "h";
  if (t >= 60) os << (t / 60) % 60 << "m";
  os << t % 60 << "s";
  return os.str();
}

}  // namespace

store::ZooHeader make_zoo_header(const Config& cfg, const zoo::Architecture& arch, const std::string& task_name) {
  store::ZooHeader h;
  h.architecture = cfg.zoo.architecture;
  h.input_shape = arch.input_shape();
  h.num_params = arch.num_params();
  h.task = task_name;
  h.numeric_properties = numeric_property_names();
  h.categorical_properties = categorical_property_names();
  h.config_toml = zoo_section_toml(cfg);
  return h;
}

void check_zoo_matches_config(const Config& cfg) {
  const std::string stored = store::read_manifest(cfg.zoo.path).header.config_toml;
  const std::string wanted = zoo_section_toml(cfg);
  if (stored.empty() || stored == wanted) return;
  auto lines = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  };
  const auto have = lines(stored), want = lines(wanted);
  std::string diff;
  for (const auto& l : have) {
    if (std::find(want.begin(), want.end(), l) == want.end()) diff += "\n  zoo:    " + l;
  }
  for (const auto& l : want) {
    if (std::find(have.begin(), have.end(), l) == have.end()) diff += "\n  config: " + l;
  }
  HYPERREP_THROW(ConfigError, "zoo ", cfg.zoo.path,
                 " was generated from another [zoo] section; delete it or set zoo.path to a new directory:", diff);
}

GenerateStats generate_zoo(const Config& cfg, dist::Communicator& comm) {
  const double t0 = now_s();
  const torch::Device device = resolve_device(cfg.run.device, comm.local_rank());
  const ZooConfig& z = cfg.zoo;
  const double grid_members =
      static_cast<double>(z.num_seeds) * static_cast<double>(z.activation.size() * z.init.size() * z.dropout.size() *
                                                             z.optimizer.size() * z.lr.size() * z.weight_decay.size());
  // Tetris images are generated, so their count is whatever the config says (IDX files bound theirs).
  const double images = parse_enum<Task>(z.task, "zoo.task") == Task::kTetris
                            ? 4.0 * 16 * 2 * static_cast<double>(z.task_train_size + z.task_val_size + z.task_test_size)
                            : 0;
  check_memory_estimate("zoo generation",
                        {{"zoo.num_seeds (members of the grid)", grid_members * 512}, {"zoo.task_train_size", images}});
  tasks::TaskData task = tasks::load_task(cfg.zoo);
  task.to(device);
  auto issues = zoo::check_zoo_architecture(cfg, task.input_shape, task.num_classes);
  if (!issues.empty()) throw ConfigErrors(std::move(issues));
  const zoo::Architecture arch = zoo::Architecture::parse(cfg.zoo.architecture, task.input_shape);
  double widest = 1;  // largest activation of one sample
  for (const auto& l : arch.layers()) {
    double n = 1;
    for (auto d : l.out_shape) n *= static_cast<double>(d);
    widest = std::max(widest, n);
  }
  const double population = std::min<double>(static_cast<double>(z.population_size), grid_members);
  check_memory_estimate("zoo generation",
                        {{"zoo.population_size (members trained together)", population * arch.num_params() * 4.0 * 8},
                         {"zoo.batch_size", population * z.batch_size * widest * 4.0 * 2 * arch.layers().size()},
                         {"zoo.task_train_size", images}});
  const std::vector<zoo::MemberSpec> members = zoo::expand_grid(cfg.zoo);
  const auto populations = zoo::group_populations(members, cfg.zoo.population_size);
  const PopulationOptions opt = population_options(cfg.zoo);

  GenerateStats stats;
  stats.members_total = static_cast<int64_t>(members.size());
  store::ZooWriter writer(cfg.zoo.path, make_zoo_header(cfg, arch, task.name), comm.rank());

  // This rank's work: its populations minus the members a previous run already completed.
  std::vector<std::vector<zoo::MemberSpec>> todo;
  int64_t todo_members = 0;
  for (size_t pi : zoo::populations_of_rank(populations.size(), comm.rank(), comm.world_size())) {
    std::vector<zoo::MemberSpec> pop;
    for (int64_t id : populations[pi]) {
      if (writer.has_member(id)) {
        ++stats.members_skipped;
      } else {
        pop.push_back(members[static_cast<size_t>(id)]);
      }
    }
    todo_members += static_cast<int64_t>(pop.size());
    if (!pop.empty()) todo.push_back(std::move(pop));
  }
  spdlog::info(
      "zoo generate: {} members ({} params each, task {}, {} train images) in {} populations over {} rank(s) on {}; "
      "rank 0 trains {} and skips {} already stored",
      members.size(), arch.num_params(), task.name, task.train.size(), populations.size(), comm.world_size(), device.str(),
      todo_members, stats.members_skipped);

  const double total_member_epochs = static_cast<double>(todo_members * std::max<int64_t>(1, opt.epochs));
  double done_member_epochs = 0.0, last_log = now_s();
  const double t_train = now_s();
  auto on_epoch = [&](int64_t n) {
    done_member_epochs += static_cast<double>(n);
    const double now = now_s();
    if (now - last_log < cfg.run.progress_seconds) return;
    last_log = now;
    const double rate = done_member_epochs / std::max(1e-9, now - t_train);
    spdlog::info("zoo generate: rank {} members {}/{} done, {:.1f} member-epochs/s, ETA {}", comm.rank(), stats.members_trained,
                 todo_members, rate, format_duration((total_member_epochs - done_member_epochs) / rate));
  };
  for (const auto& pop : todo) {
    auto records = train_population(arch, pop, opt, task, device, on_epoch);
    writer.write_members(records);  // one set of fsyncs per population, not per member
    stats.members_trained += static_cast<int64_t>(records.size());
    if (opt.epochs == 0) on_epoch(0);
  }
  const double rate = done_member_epochs / std::max(1e-9, now_s() - t_train);
  spdlog::info("zoo generate: rank {} trained {} members ({:.1f} member-epochs/s); waiting for the other ranks", comm.rank(),
               stats.members_trained, rate);
  writer.finalize(comm, stats.members_total);
  stats.seconds = now_s() - t0;
  spdlog::info("zoo generate: {} members in {} at {}", stats.members_total, format_duration(stats.seconds), cfg.zoo.path);
  return stats;
}

}  // namespace hyperrep::population

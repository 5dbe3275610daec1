// hyperrep config check|show|get: validate a config (every error at once), print the resolved one,
// or one resolved value.
#include <toml++/toml.h>

#include <iostream>

#include "common/config.h"
#include "launch/args.h"
#include "launch/commands.h"
#include "population/generate.h"
#include "tasks/image_data.h"

namespace hyperrep::cli {
namespace {

constexpr const char* kUsage = R"(usage:
  hyperrep config check FILE [--set section.key=value]...
      Validate FILE; print the resolved config, or every error (file:line: key: message), exit 2.
  hyperrep config show [--config FILE] [--set section.key=value]... [--docs]
      Print the resolved config (embedded defaults when no FILE); --docs adds each key's meaning.
  hyperrep config get section.key [--config FILE] [--set section.key=value]...
      Print one resolved value: a string as is, without TOML quotes or escapes (for scripts: a path
      may hold quotes, spaces and $()), anything else as TOML.
)";

// The [zoo] layers against the task's images, as `zoo generate` checks them. Loading the task
// needs its files; where they are missing the check is skipped with a note, not failed (a config
// that only trains on an existing zoo need not have them).
void check_zoo_against_task(const Config& cfg) {
  tasks::TaskData task;
  try {
    task = tasks::load_task(cfg.zoo);
  } catch (const Error& e) {
    std::cerr << "note: zoo.architecture not checked against task '" << cfg.zoo.task << "': " << e.what() << "\n";
    return;
  }
  auto issues = zoo::check_zoo_architecture(cfg, task.input_shape, task.num_classes);
  if (!issues.empty()) throw ConfigErrors(std::move(issues));
}

}  // namespace

int cmd_config(Context& ctx) {
  const std::string verb = ctx.args.empty() ? "" : ctx.args[0];
  std::vector<std::string> rest(ctx.args.begin() + (ctx.args.empty() ? 0 : 1), ctx.args.end());
  Args args(rest, {"--config"}, {"--docs"});
  if (args.help() || verb.empty() || verb == "help") {
    std::cout << kUsage;
    return verb.empty() && !args.help() ? 2 : 0;
  }
  if (verb == "check") {
    HYPERREP_CHECK(args.positional().size() == 1, UsageError, "config check takes exactly one FILE\n", kUsage);
    Config cfg = load_config(args.positional()[0], args.sets());
    check_zoo_against_task(cfg);
    if (ctx.mpi.rank() == 0) std::cout << to_toml(cfg);
    return 0;
  }
  if (verb == "show") {
    HYPERREP_CHECK(args.positional().empty(), UsageError, "config show takes no positional argument\n", kUsage);
    Config cfg = load_config_from(args);
    if (ctx.mpi.rank() == 0) std::cout << to_toml(cfg, args.has("--docs"));
    return 0;
  }
  if (verb == "get") {
    HYPERREP_CHECK(args.positional().size() == 1, UsageError, "config get takes exactly one section.key\n", kUsage);
    const std::string& key = args.positional()[0];
    const Config cfg = load_config_from(args);
    const toml::table resolved = toml::parse(to_toml(cfg));
    const toml::node_view<const toml::node> node = toml::at_path(resolved, key);
    HYPERREP_CHECK(node && !node.is_table(), UsageError, "config get: '", key,
                   "' is not a key of the config (hyperrep config show lists them)");
    if (ctx.mpi.rank() == 0) {
      if (const auto* str = node.as_string()) {
        std::cout << str->get() << "\n";
      } else {
        std::cout << node << "\n";
      }
    }
    return 0;
  }
  HYPERREP_THROW(UsageError, "unknown verb 'config ", verb, "'\n", kUsage);
}

}  // namespace hyperrep::cli

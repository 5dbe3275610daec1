// hyperrep config check|show: validate a config (every error at once) or print the resolved one.
#include <iostream>

#include "common/config.h"
#include "launch/args.h"
#include "launch/commands.h"

namespace hyperrep::cli {
namespace {

constexpr const char* kUsage = R"(usage:
  hyperrep config check FILE [--set section.key=value]...
      Validate FILE; print the resolved config, or every error (file:line: key: message), exit 2.
  hyperrep config show [--config FILE] [--set section.key=value]... [--docs]
      Print the resolved config (embedded defaults when no FILE); --docs adds each key's meaning.
)";

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
    if (ctx.mpi.rank() == 0) std::cout << to_toml(cfg);
    return 0;
  }
  if (verb == "show") {
    HYPERREP_CHECK(args.positional().empty(), UsageError, "config show takes no positional argument\n", kUsage);
    Config cfg = load_config_from(args);
    if (ctx.mpi.rank() == 0) std::cout << to_toml(cfg, args.has("--docs"));
    return 0;
  }
  HYPERREP_THROW(UsageError, "unknown verb 'config ", verb, "'\n", kUsage);
}

}  // namespace hyperrep::cli

// hyperrep zoo <verb>: model zoo generation and tools. Each verb is its own function; the
// dispatcher below only routes to them.
#include <iostream>

#include "common/config.h"
#include "common/runtime.h"
#include "distributed/communicator.h"
#include "launch/args.h"
#include "launch/cmd_zoo_tools.h"
#include "launch/commands.h"
#include "population/generate.h"

namespace hyperrep::cli {
namespace {

constexpr const char* kUsage = R"(usage: hyperrep zoo <verb> [<args>]

verbs:
  generate --config FILE [--set section.key=value]...
      Train the zoo of the config's [zoo] section (populations trained together, spread over
      the ranks of mpirun) and write it to zoo.path. A killed run restarted with the same
      command resumes from the completed members and ends with the same zoo.
)";

constexpr const char* kGenerateUsage = R"(usage: hyperrep zoo generate --config FILE [--set section.key=value]...
  Trains every member of the [zoo] grid and writes the zoo to zoo.path; also under mpirun, where
  the ranks take populations by a fixed rule and produce exactly the zoo of one process.
  Device from run.device, intra-op threads from run.threads (0 = cores / ranks on the node).
)";

int zoo_generate(Context& ctx, const std::vector<std::string>& rest) {
  Args args(rest, {"--config"}, {});
  if (args.help()) {
    std::cout << kGenerateUsage;
    return 0;
  }
  HYPERREP_CHECK(args.positional().empty(), UsageError, "zoo generate takes no positional argument\n", kGenerateUsage);
  HYPERREP_CHECK(args.has("--config"), UsageError, "zoo generate needs --config FILE\n", kGenerateUsage);
  const Config cfg = load_config_from(args);
  auto comm = start(ctx, cfg);
  population::generate_zoo(cfg, *comm);
  return 0;
}

}  // namespace

int cmd_zoo(Context& ctx) {
  const std::string verb = ctx.args.empty() ? "" : ctx.args[0];
  const std::vector<std::string> rest(ctx.args.begin() + (ctx.args.empty() ? 0 : 1), ctx.args.end());
  if (verb.empty() || verb == "--help" || verb == "-h" || verb == "help") {
    std::cout << kUsage << kZooToolsUsage;
    return verb.empty() ? 2 : 0;
  }
  if (verb == "generate") return zoo_generate(ctx, rest);
  if (verb == "info") return zoo_info(ctx, rest);
  if (verb == "verify") return zoo_verify(ctx, rest);
  if (verb == "export") return zoo_export(ctx, rest);
  if (verb == "import") return zoo_import(ctx, rest);
  if (verb == "split") return zoo_split(ctx, rest);
  HYPERREP_THROW(UsageError, "unknown verb 'zoo ", verb, "'\n", kUsage, kZooToolsUsage);
}

}  // namespace hyperrep::cli

// hyperrep model summary: the autoencoder a config describes, its parameters by part, tokens
// per member and token dims (text, or --json for scripts).
#include <iostream>
#include <sstream>

#include "common/config.h"
#include "common/json.h"
#include "common/logging.h"
#include "launch/args.h"
#include "launch/commands.h"
#include "model/autoencoder.h"

namespace hyperrep::cli {
namespace {

constexpr const char* kUsage = R"(usage:
  hyperrep model summary --config FILE [--set section.key=value]... [--json]
      Build the autoencoder of FILE ([zoo] architecture and task, [model]) and print its
      parameters by part (embedder, encoder, bottleneck, decoder, projection head), the totals
      with and without the head, tokens per member and the token dims.
)";

std::string grouped(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > (n < 0 ? 1 : 0); i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

}  // namespace

int cmd_model(Context& ctx) {
  const std::string verb = ctx.args.empty() ? "" : ctx.args[0];
  std::vector<std::string> rest(ctx.args.begin() + (ctx.args.empty() ? 0 : 1), ctx.args.end());
  Args args(rest, {"--config"}, {"--json"});
  if (args.help() || verb.empty() || verb == "help" || verb == "--help" || verb == "-h") {
    std::cout << kUsage;
    return verb.empty() ? 2 : 0;
  }
  HYPERREP_CHECK(verb == "summary", UsageError, "unknown verb 'model ", verb, "'\n", kUsage);
  HYPERREP_CHECK(args.positional().empty(), UsageError, "model summary takes no positional argument\n", kUsage);
  Config cfg = load_config_from(args);
  auto arch = model::member_architecture(cfg);
  auto ae = model::make_autoencoder(cfg);
  auto groups = ae->parameter_groups();
  const std::vector<std::string> order = {"embedder", "encoder", "bottleneck", "decoder", "head"};
  if (ctx.mpi.rank() != 0) return 0;
  std::ostringstream os;
  if (args.has("--json")) {
    JsonWriter w;
    w.begin_object().key("tokenizer").value(ae->tokenizer_name()).key("member_params").value(arch.num_params());
    w.key("tokens_per_member").value(ae->tokens_per_member()).key("token_dims").begin_array();
    for (auto d : ae->token_dims()) w.value(d);
    w.end_array().key("parameters").begin_object();
    for (const auto& name : order) w.key(name).value(groups.at(name));
    w.end_object().key("total").value(ae->num_parameters(true)).key("total_without_head").value(ae->num_parameters(false));
    w.key("forward_flops_per_member").value(ae->forward_flops(1)).end_object();
    os << w.str() << "\n";
  } else {
    os << "member: " << arch.num_params() << " parameters, " << arch.param_layers().size() << " conv/linear layers\n";
    os << "tokenizer: " << ae->tokenizer_name() << ", " << ae->tokens_per_member() << " tokens per member, token dims [";
    auto dims = ae->token_dims();
    for (size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
    os << "]\n";
    os << "parameters:\n";
    for (const auto& g : order) {
      os << "  " << g << std::string(12 - g.size(), ' ')
         << std::string(12 - std::min<size_t>(12, grouped(groups.at(g)).size()), ' ') << grouped(groups.at(g)) << "\n";
    }
    os << "  total without head " << grouped(ae->num_parameters(false)) << "\n";
    os << "  total              " << grouped(ae->num_parameters(true)) << "\n";
  }
  std::cout << os.str();
  return 0;
}

}  // namespace hyperrep::cli

// The zoo store verbs of `hyperrep zoo` (info, verify, export, import), routed from cmd_zoo.cpp.
#pragma once

#include <string>
#include <vector>

#include "launch/commands.h"

namespace hyperrep::cli {

// Usage lines of the verbs, appended to `hyperrep zoo --help`.
extern const char* const kZooToolsUsage;

int zoo_info(Context& ctx, const std::vector<std::string>& args);
int zoo_verify(Context& ctx, const std::vector<std::string>& args);
int zoo_export(Context& ctx, const std::vector<std::string>& args);
int zoo_import(Context& ctx, const std::vector<std::string>& args);
int zoo_split(Context& ctx, const std::vector<std::string>& args);

}  // namespace hyperrep::cli

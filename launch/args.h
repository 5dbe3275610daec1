// Command-line parsing shared by every subcommand: options with values, flags, repeated
// --set overrides and positionals, with usage errors that name the option.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"

namespace hyperrep::cli {

class Args {
 public:
  // value_options take a value (--config F or --config=F); flags take none.
  Args(const std::vector<std::string>& argv, std::set<std::string> value_options, std::set<std::string> flags);

  bool has(const std::string& name) const;
  std::optional<std::string> value(const std::string& name) const;
  std::string value_or(const std::string& name, const std::string& fallback) const;
  int64_t int_or(const std::string& name, int64_t fallback) const;
  std::string required(const std::string& name) const;
  const std::vector<std::string>& sets() const { return sets_; }
  const std::vector<std::string>& positional() const { return positional_; }
  bool help() const { return help_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_seen_;
  std::vector<std::string> sets_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

// --config FILE (embedded defaults when absent) plus every --set.
Config load_config_from(const Args& args);

}  // namespace hyperrep::cli

#include "launch/args.h"

#include "common/error.h"

namespace hyperrep::cli {

Args::Args(const std::vector<std::string>& argv, std::set<std::string> value_options, std::set<std::string> flags) {
  value_options.insert("--set");
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      help_ = true;
      continue;
    }
    if (a.rfind("--", 0) != 0 || a == "--") {
      positional_.push_back(a);
      continue;
    }
    std::string v;
    bool inline_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
      inline_value = true;
    }
    if (flags.count(a)) {
      HYPERREP_CHECK(!inline_value, UsageError, "option ", a, " takes no value");
      flags_seen_.insert(a);
      continue;
    }
    HYPERREP_CHECK(value_options.count(a), UsageError, "unknown option ", a, " (see --help)");
    if (!inline_value) {
      HYPERREP_CHECK(i + 1 < argv.size(), UsageError, "option ", a, " needs a value");
      v = argv[++i];
    }
    if (a == "--set") sets_.push_back(v);
    else values_[a] = v;
  }
}

bool Args::has(const std::string& name) const { return flags_seen_.count(name) > 0 || values_.count(name) > 0; }

std::optional<std::string> Args::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::value_or(const std::string& name, const std::string& fallback) const { return value(name).value_or(fallback); }

int64_t Args::int_or(const std::string& name, int64_t fallback) const {
  auto v = value(name);
  if (!v) return fallback;
  try {
    size_t pos = 0;
    const int64_t x = std::stoll(*v, &pos);
    HYPERREP_CHECK(pos == v->size(), UsageError, "option ", name, " expects an integer, got '", *v, "'");
    return x;
  } catch (const std::logic_error&) {
    HYPERREP_THROW(UsageError, "option ", name, " expects an integer, got '", *v, "'");
  }
}

std::string Args::required(const std::string& name) const {
  auto v = value(name);
  HYPERREP_CHECK(v.has_value(), UsageError, "missing required option ", name, " (see --help)");
  return *v;
}

Config load_config_from(const Args& args) { return load_config(args.value_or("--config", ""), args.sets()); }

}  // namespace hyperrep::cli

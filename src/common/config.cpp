#include "common/config.h"

#include <toml++/toml.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <sstream>

#include "common/fs.h"
#include "common/hash.h"

namespace hyperrep {
namespace {

// One section of Config with its field list, resolved once.
struct SectionEntry {
  std::string name;
  std::vector<FieldInfo> fields;
  std::function<void*(Config&)> access;
  std::function<std::vector<SectionCheckResult>(const Config&)> rules;
};

template <typename S>
SectionEntry make_section(const char* name, S Config::*member) {
  SectionSchema<S> schema;
  S::describe(schema);
  SectionEntry e;
  e.name = name;
  e.fields = schema.fields();
  e.access = [member](Config& c) -> void* { return &(c.*member); };
  auto rules = schema.rules();
  e.rules = [member, rules](const Config& c) {
    std::vector<SectionCheckResult> out;
    for (const auto& r : rules) {
      auto part = r(c.*member);
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  };
  return e;
}

const std::vector<SectionEntry>& sections() {
  static const std::vector<SectionEntry> kSections = {
      make_section("run", &Config::run),
      make_section("zoo", &Config::zoo),
      make_section("data", &Config::data),
      make_section("model", &Config::model),
      make_section("loss", &Config::loss),
      make_section("augment", &Config::augment),
      make_section("train", &Config::train),
      make_section("distributed", &Config::distributed),
      make_section("checkpoint", &Config::checkpoint),
      make_section("probe", &Config::probe),
      make_section("sweep", &Config::sweep),
  };
  return kSections;
}

const void* access_const(const SectionEntry& s, const Config& c) { return s.access(const_cast<Config&>(c)); }

std::string suggest(const std::string& wrong) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& k : all_config_keys()) {
    // Compare against the full path and against the key alone.
    const auto dot = k.find('.');
    size_t d = std::min(edit_distance(wrong, k), edit_distance(wrong, k.substr(dot + 1)));
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  for (const auto& s : sections()) {
    size_t d = edit_distance(wrong, s.name);
    if (d < best_d) {
      best_d = d;
      best = "[" + s.name + "]";
    }
  }
  const size_t limit = std::max<size_t>(2, wrong.size() / 3);
  return best_d <= limit ? best : "";
}

int line_of(const toml::node& n) { return static_cast<int>(n.source().begin.line); }

const char* toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

// Converts a TOML node to the field's type; returns an error message or "".
std::string convert(const toml::node& n, FieldType type, ConfigValue& out) {
  auto scalar = [&](const toml::node& e, FieldType t, ConfigValue& v) -> bool {
    switch (t) {
      case FieldType::kBool:
        if (!e.is_boolean()) return false;
        v = e.as_boolean()->get();
        return true;
      case FieldType::kInt:
        if (!e.is_integer()) return false;
        v = static_cast<int64_t>(e.as_integer()->get());
        return true;
      case FieldType::kFloat:
        if (e.is_integer()) {
          v = static_cast<double>(e.as_integer()->get());
          return true;
        }
        if (!e.is_floating_point()) return false;
        v = e.as_floating_point()->get();
        return true;
      case FieldType::kString:
        if (!e.is_string()) return false;
        v = std::string(e.as_string()->get());
        return true;
      default: return false;
    }
  };
  const bool is_list = type == FieldType::kIntList || type == FieldType::kFloatList || type == FieldType::kStringList;
  if (!is_list) {
    if (!scalar(n, type, out)) return std::string("expected ") + field_type_name(type) + ", got " + toml_type_name(n);
    return "";
  }
  if (!n.is_array()) return std::string("expected ") + field_type_name(type) + ", got " + toml_type_name(n);
  const FieldType elem = type == FieldType::kIntList     ? FieldType::kInt
                         : type == FieldType::kFloatList ? FieldType::kFloat
                                                         : FieldType::kString;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
  size_t i = 0;
  for (const auto& e : *n.as_array()) {
    ConfigValue v;
    if (!scalar(e, elem, v)) {
      return "element " + std::to_string(i) + ": expected " + field_type_name(elem) + ", got " + toml_type_name(e);
    }
    if (elem == FieldType::kInt) ints.push_back(std::get<int64_t>(v));
    if (elem == FieldType::kFloat) floats.push_back(std::get<double>(v));
    if (elem == FieldType::kString) strings.push_back(std::get<std::string>(v));
    ++i;
  }
  if (type == FieldType::kIntList) out = ints;
  if (type == FieldType::kFloatList) out = floats;
  if (type == FieldType::kStringList) out = strings;
  return "";
}

const FieldInfo* find_field(const SectionEntry& s, const std::string& key) {
  for (const auto& f : s.fields)
    if (f.name == key) return &f;
  return nullptr;
}

const SectionEntry* find_section(const std::string& name) {
  for (const auto& s : sections())
    if (s.name == name) return &s;
  return nullptr;
}

void apply_table(const toml::table& root, const std::string& source, Config& cfg, std::vector<ConfigIssue>& issues) {
  for (const auto& [skey, snode] : root) {
    const std::string sname(skey.str());
    const SectionEntry* sec = find_section(sname);
    if (!sec) {
      std::string msg = "unknown section [" + sname + "]";
      auto s = suggest(sname);
      if (!s.empty()) msg += " (did you mean " + s + ")";
      issues.push_back({sname, source, line_of(snode), msg});
      continue;
    }
    if (!snode.is_table()) {
      issues.push_back({sname, source, line_of(snode), "expected a table [" + sname + "]"});
      continue;
    }
    void* target = sec->access(cfg);
    for (const auto& [fkey, fnode] : *snode.as_table()) {
      const std::string name(fkey.str());
      const std::string path = sname + "." + name;
      const FieldInfo* f = find_field(*sec, name);
      if (!f) {
        std::string msg = "unknown key";
        auto s = suggest(path);
        auto s2 = suggest(name);
        if (!s.empty() || !s2.empty()) msg += " (did you mean " + (s.empty() ? s2 : s) + ")";
        issues.push_back({path, source, line_of(fnode), msg});
        continue;
      }
      ConfigValue v;
      std::string err = convert(fnode, f->type, v);
      if (err.empty()) err = f->validate(v);
      if (!err.empty()) {
        issues.push_back({path, source, line_of(fnode), err});
        continue;
      }
      f->set(target, v);
      cfg.origins[path] = {source, source == "--set" ? 0 : line_of(fnode)};
    }
  }
}

// Numbers in TOML text (config.toml, the [zoo] section stored in every zoo manifest): the
// shortest %g text that reads back exactly, with ".0" where it would read as an integer. Not
// common/format's shortest form: manifests hold this text and `hyperrep run` compares it line by
// line with the config, so changing it would make every existing zoo look generated from
// another [zoo] section (0.0001 would become 1e-04).
std::string toml_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  // Prefer the shortest text that reads back exactly.
  for (int p = 1; p <= 17; ++p) {
    char shortbuf[64];
    std::snprintf(shortbuf, sizeof shortbuf, "%.*g", p, v);
    if (std::strtod(shortbuf, nullptr) == v) {
      std::snprintf(buf, sizeof buf, "%s", shortbuf);
      break;
    }
  }
  std::string s(buf);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string quote(const std::string& s) {
  std::ostringstream os;
  os << toml::value<std::string>(s);
  return os.str();
}

template <typename T, typename F>
std::string join_list(const std::vector<T>& l, F f) {
  std::string out = "[";
  for (size_t i = 0; i < l.size(); ++i) out += (i ? ", " : "") + f(l[i]);
  return out + "]";
}

std::string format_value(const ConfigValue& v) {
  struct Visitor {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return toml_float(d); }
    std::string operator()(const std::string& s) const { return quote(s); }
    std::string operator()(const std::vector<int64_t>& l) const {
      return join_list(l, [](int64_t x) { return std::to_string(x); });
    }
    std::string operator()(const std::vector<double>& l) const { return join_list(l, toml_float); }
    std::string operator()(const std::vector<std::string>& l) const { return join_list(l, quote); }
  };
  return std::visit(Visitor{}, v);
}

}  // namespace

ConfigErrors::ConfigErrors(std::vector<ConfigIssue> issues)
    : ConfigError([&] {
        std::string m = std::to_string(issues.size()) + " config error" + (issues.size() == 1 ? "" : "s") + ":";
        for (const auto& i : issues) m += "\n  " + i.str();
        return m;
      }()),
      issues_(std::move(issues)) {}

std::vector<ConfigIssue> parse_config(const std::string& toml_text, const std::string& source,
                                      const std::vector<std::string>& sets, Config& out) {
  std::vector<ConfigIssue> issues;
  out.source = source;
  try {
    toml::table root = toml::parse(std::string_view(toml_text), std::string_view(source));
    apply_table(root, source, out, issues);
    // Tables iterate in key order; report in the order of the file.
    std::stable_sort(issues.begin(), issues.end(), [](const ConfigIssue& a, const ConfigIssue& b) { return a.line < b.line; });
  } catch (const toml::parse_error& e) {
    issues.push_back(
        {"", source, static_cast<int>(e.source().begin.line), std::string("TOML syntax: ") + std::string(e.description())});
  }
  for (const auto& set : sets) {
    const auto eq = set.find('=');
    const auto dot = set.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot > eq) {
      issues.push_back({set, "--set", 0, "expected section.key=value"});
      continue;
    }
    const std::string path = set.substr(0, eq);
    std::string value = set.substr(eq + 1);
    const SectionEntry* sec = find_section(path.substr(0, dot));
    const FieldInfo* f = sec ? find_field(*sec, path.substr(dot + 1)) : nullptr;
    // A bare word is a string for string fields: --set run.device=cpu.
    if (f && f->type == FieldType::kString && (value.empty() || value.front() != '"')) value = quote(value);
    if (f && f->type == FieldType::kStringList && !value.empty() && value.front() != '[') value = "[" + quote(value) + "]";
    try {
      // The value is parsed as one TOML value and nothing more: text after it (a line break
      // followed by a [section] or another key) is refused, never applied.
      toml::table parsed = toml::parse(std::string_view("value = " + value), std::string_view("--set"));
      HYPERREP_CHECK(parsed.size() == 1 && parsed.contains("value"), ConfigError, "more than one value");
      toml::table section;
      section.insert(path.substr(dot + 1), *parsed.get("value"));
      toml::table t;
      t.insert(path.substr(0, dot), std::move(section));
      std::vector<ConfigIssue> part;
      apply_table(t, "--set", out, part);
      for (auto& p : part) {
        p.line = 0;
        issues.push_back(p);
      }
    } catch (const toml::parse_error& e) {
      issues.push_back({path, "--set", 0, "cannot parse value '" + set.substr(eq + 1) + "': " + std::string(e.description())});
    } catch (const ConfigError& e) {
      std::string shown = set.substr(eq + 1);  // one line in the message, whatever the value holds
      for (size_t p = 0; (p = shown.find('\n', p)) != std::string::npos; p += 2) shown.replace(p, 1, "\\n");
      issues.push_back({path, "--set", 0, "'" + shown + "' is not a single TOML value (" + e.what() + ")"});
    }
  }
  // A config that generates a zoo and trains on it names the directory once: without its own
  // data.zoo, training reads the zoo that zoo.path makes.
  if (!out.origins.count("data.zoo")) out.data.zoo = out.zoo.path;
  for (const auto& s : sections()) {
    for (const auto& r : s.rules(out)) issues.push_back(config_issue(out, s.name + "." + r.key, r.message));
  }
  return issues;
}

ConfigIssue config_issue(const Config& c, const std::string& key, const std::string& message) {
  auto it = c.origins.find(key);
  if (it == c.origins.end()) return {key, c.source, 0, message};
  return {key, it->second.source, it->second.line, message};
}

Config load_config(const std::string& path, const std::vector<std::string>& sets) {
  Config cfg;
  std::string text;
  if (!path.empty()) {
    // A config is a regular file of at most a few MB: a directory, FIFO or device is refused
    // (a directory would otherwise read as an empty file and run the defaults).
    try {
      text = read_file(path, int64_t{16} << 20);
    } catch (const IoError& e) {
      HYPERREP_THROW(ConfigError, "cannot read config file: ", e.what());
    }
  }
  auto issues = parse_config(text, path.empty() ? "<defaults>" : path, sets, cfg);
  if (!issues.empty()) throw ConfigErrors(std::move(issues));
  return cfg;
}

std::string to_toml(const Config& c, bool with_docs) {
  std::ostringstream os;
  bool first = true;
  for (const auto& s : sections()) {
    os << (first ? "" : "\n") << "[" << s.name << "]\n";
    first = false;
    const void* sec = access_const(s, c);
    for (const auto& f : s.fields) {
      if (with_docs) os << "# " << f.doc << "\n";
      os << f.name << " = " << format_value(f.get(sec)) << "\n";
    }
  }
  return os.str();
}

std::string science_hash(const Config& c) {
  // FNV-1a 64 over "section.key=value\n" of every hashed field.
  Fnv64 h;
  for (const auto& s : sections()) {
    const void* sec = access_const(s, c);
    for (const auto& f : s.fields) {
      if (!f.hashed) continue;
      const std::string line = s.name + "." + f.name + "=" + format_value(f.get(sec)) + "\n";
      h.add(line);
    }
  }
  return h.hex();
}

std::vector<std::string> science_diff(const Config& a, const Config& b) {
  std::vector<std::string> out;
  for (const auto& s : sections()) {
    for (const auto& f : s.fields) {
      if (!f.hashed) continue;
      const auto va = format_value(f.get(access_const(s, a)));
      const auto vb = format_value(f.get(access_const(s, b)));
      if (va != vb) out.push_back(s.name + "." + f.name + ": " + va + " vs " + vb);
    }
  }
  return out;
}

std::vector<std::string> all_config_keys() {
  std::vector<std::string> keys;
  for (const auto& s : sections())
    for (const auto& f : s.fields) keys.push_back(s.name + "." + f.name);
  return keys;
}

std::string config_get(const Config& c, const std::string& key) {
  const auto dot = key.find('.');
  const SectionEntry* sec = dot == std::string::npos ? nullptr : find_section(key.substr(0, dot));
  const FieldInfo* f = sec ? find_field(*sec, key.substr(dot + 1)) : nullptr;
  if (!f) {
    auto s = suggest(key);
    HYPERREP_THROW(ConfigError, "unknown config key '", key, "'", s.empty() ? "" : " (did you mean " + s + ")");
  }
  return format_value(f->get(access_const(*sec, c)));
}

}  // namespace hyperrep

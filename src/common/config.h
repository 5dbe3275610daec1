// The whole config: typed sections, TOML loading with every error reported at once (key path,
// line, "did you mean"), --set overrides, printing back to TOML, and the science hash.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/config_sections.h"
#include "common/error.h"

namespace hyperrep {

struct Config {
  RunConfig run;
  ZooConfig zoo;
  DataConfig data;
  ModelConfig model;
  LossConfig loss;
  AugmentConfig augment;
  TrainConfig train;
  DistributedConfig distributed;
  CheckpointConfig checkpoint;
  ProbeConfig probe;
  SweepConfig sweep;
  // Where each key that a file or --set gave was written ("section.key" -> source and line), so
  // that checks made later (a rule across keys, the zoo's layers against its task) name the line.
  // Not part of the config's value: never printed, hashed or compared.
  struct Origin {
    std::string source;
    int line = 0;
  };
  std::string source = "<defaults>";
  std::map<std::string, Origin> origins;
};

// An issue about `key`, placed where the key was written (the config file's line, --set), or in
// the config's source when it kept its default.
ConfigIssue config_issue(const Config& c, const std::string& key, const std::string& message);

// Thrown with every issue found; what() lists them one per line.
class ConfigErrors : public ConfigError {
 public:
  explicit ConfigErrors(std::vector<ConfigIssue> issues);
  const std::vector<ConfigIssue>& issues() const { return issues_; }

 private:
  std::vector<ConfigIssue> issues_;
};

// Reads TOML text (source names it in messages) and applies "section.key=value" overrides.
// Collects every problem; returns them instead of throwing.
std::vector<ConfigIssue> parse_config(const std::string& toml_text, const std::string& source,
                                      const std::vector<std::string>& sets, Config& out);

// Loads a file (empty path = the embedded defaults) plus overrides; throws ConfigErrors.
Config load_config(const std::string& path, const std::vector<std::string>& sets = {});

// The resolved config as TOML that parse_config reads back to the same values.
std::string to_toml(const Config& c, bool with_docs = false);

// Hex digest over every hashed field; fields marked not_hashed (paths, logging, performance
// knobs) do not change it. science_diff names the hashed fields that differ.
std::string science_hash(const Config& c);
std::vector<std::string> science_diff(const Config& a, const Config& b);

// Every valid key as "section.key" (for suggestions and docs).
std::vector<std::string> all_config_keys();

// Reads one field by path, formatted as TOML ("train.lr" -> "0.0001"); throws ConfigError.
std::string config_get(const Config& c, const std::string& key);

}  // namespace hyperrep

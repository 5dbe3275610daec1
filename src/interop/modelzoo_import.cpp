#include "interop/modelzoo_import.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <regex>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "interop/torch_format.h"
#include "zoo/architecture.h"

namespace hyperrep::interop {
namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// params.json key of each hyper-parameter property (the names generated zoos use: the Model Zoos'
// optim::wd is torch's coupled weight_decay).
const std::vector<std::pair<std::string, std::string>> kNumericParams = {
    {"lr", "optim::lr"}, {"weight_decay", "optim::wd"}, {"dropout", "model::dropout"}, {"seed", "seed"}};
const std::vector<std::pair<std::string, std::string>> kCategoricalParams = {
    {"activation", "model::nlin"}, {"init", "model::init_type"}, {"optimizer", "optim::optimizer"}};
// result.json key of each per-epoch metric.
const std::vector<std::string> kMetrics = {"test_acc", "train_acc", "test_loss", "train_loss"};

double json_number(const JsonValue& v, const std::string& where) {
  if (v.kind == JsonKind::kNumber) return v.number;
  if (v.kind == JsonKind::kBool) return v.boolean ? 1.0 : 0.0;
  if (v.kind == JsonKind::kNull) return kNaN;
  HYPERREP_THROW(DataError, where, " must be a number, got a ", json_kind_name(v.kind));
}

std::string json_text(const JsonValue& v, const std::string& where) {
  if (v.kind == JsonKind::kString) return v.text;
  if (v.kind == JsonKind::kNumber || v.kind == JsonKind::kBool) {
    std::ostringstream os;
    if (v.kind == JsonKind::kBool) os << (v.boolean ? "true" : "false");
    else os << v.number;
    return os.str();
  }
  HYPERREP_THROW(DataError, where, " must be a string, got a ", json_kind_name(v.kind));
}

struct Folder {
  std::map<std::string, double> hyper;
  std::map<std::string, std::string> categorical;
  std::map<int64_t, std::map<std::string, double>> metrics;  // by training_iteration
  std::vector<std::pair<int64_t, std::string>> checkpoints;  // (epoch, file), ascending
};

Folder read_folder(const fs::path& folder) {
  Folder f;
  const fs::path params_path = folder / "params.json", result_path = folder / "result.json";
  HYPERREP_CHECK(fs::is_regular_file(result_path), DataError, "'", folder.string(),
                 "' is not a model zoo folder: it needs result.json (and params.json, or a config in result.json) and "
                 "checkpoint_NNNNNN/checkpoints");

  // One JSON object per line; blank lines are allowed (a trailing newline). Ray Tune repeats the
  // trial's configuration in each line's "config": it stands in for a missing params.json.
  const std::string results = read_file(result_path.string());
  std::istringstream lines(results);
  std::string line;
  JsonValue config;
  std::string config_where;
  for (int lineno = 1; std::getline(lines, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = result_path.string() + ", line " + std::to_string(lineno);
    JsonValue row = parse_json(line, where);
    HYPERREP_CHECK(row.kind == JsonKind::kObject, DataError, where, ": expected a JSON object");
    const JsonValue* it = row.find("training_iteration");
    HYPERREP_CHECK(it && it->kind == JsonKind::kNumber && it->number == std::floor(it->number), DataError, where,
                   ": needs an integer 'training_iteration'");
    auto& m = f.metrics[static_cast<int64_t>(it->number)];
    for (const auto& key : kMetrics) {
      const JsonValue* v = row.find(key);
      m[key] = v ? json_number(*v, where + " '" + key + "'") : kNaN;
    }
    const JsonValue* c = row.find("config");
    if (c && c->kind == JsonKind::kObject && config.kind != JsonKind::kObject) {
      config = *c;
      config_where = where + " 'config'";
    }
  }

  JsonValue params;
  std::string where = params_path.string();
  if (fs::is_regular_file(params_path)) {
    params = parse_json(read_file(params_path.string()), params_path.string());
    HYPERREP_CHECK(params.kind == JsonKind::kObject, DataError, params_path.string(), ": expected a JSON object");
  } else {
    HYPERREP_CHECK(config.kind == JsonKind::kObject, DataError, "'", folder.string(),
                   "' has no params.json and no line of result.json carries a 'config' object");
    params = config;
    where = config_where;
  }
  for (const auto& [prop, key] : kNumericParams) {
    const JsonValue* v = params.find(key);
    HYPERREP_CHECK(v, DataError, where, ": missing '", key, "'");
    f.hyper[prop] = json_number(*v, where + " '" + key + "'");
  }
  f.hyper["l2"] = f.hyper["weight_decay"] / 2;  // the loss-term coefficient, as the Small CNN Zoo records it
  for (const auto& [prop, key] : kCategoricalParams) {
    const JsonValue* v = params.find(key);
    HYPERREP_CHECK(v, DataError, where, ": missing '", key, "'");
    f.categorical[prop] = json_text(*v, where + " '" + key + "'");
  }

  static const std::regex kCheckpoint(R"(^checkpoint_(\d{1,9})$)");
  for (const auto& entry : fs::directory_iterator(folder)) {
    std::smatch m;
    const std::string n = entry.path().filename().string();
    if (!entry.is_directory() || !std::regex_match(n, m, kCheckpoint)) continue;
    const fs::path file = entry.path() / "checkpoints";
    HYPERREP_CHECK(fs::is_regular_file(file), DataError, "'", entry.path().string(), "' has no 'checkpoints' file");
    f.checkpoints.emplace_back(std::stoll(m[1].str()), file.string());
  }
  std::sort(f.checkpoints.begin(), f.checkpoints.end());
  HYPERREP_CHECK(!f.checkpoints.empty(), DataError, "'", folder.string(), "' has no checkpoint_NNNNNN folder");
  return f;
}

// Sequential key names when they match exactly, else the order of the tensors.
torch::Tensor map_weights(const zoo::Architecture& arch, const NamedTensors& sd, const std::string& file) {
  const auto expected = state_dict_from_flat(arch, torch::zeros({arch.num_params()}));
  bool same_keys = sd.size() == expected.size();
  for (size_t i = 0; same_keys && i < sd.size(); ++i) same_keys = sd[i].first == expected[i].first;
  try {
    return same_keys ? flat_from_state_dict(arch, sd) : flat_from_state_dict_by_order(arch, sd);
  } catch (const DataError& e) {
    HYPERREP_THROW(DataError, file, ": ", e.what());
  }
}

}  // namespace

const std::vector<std::string>& modelzoo_numeric_properties() {
  static const std::vector<std::string> kNames = {"test_acc", "train_acc", "ggap",         "test_loss", "train_loss", "epoch",
                                                  "lr",       "l2",        "weight_decay", "dropout",   "seed"};
  return kNames;
}

const std::vector<std::string>& modelzoo_categorical_properties() {
  static const std::vector<std::string> kNames = {"activation", "init", "optimizer"};
  return kNames;
}

ImportedZoo import_modelzoo(const std::string& dir, const std::vector<std::string>& architecture,
                            const std::vector<int64_t>& input_shape) {
  HYPERREP_CHECK(fs::is_directory(dir), IoError, "'", dir, "' is not a directory");
  const zoo::Architecture arch = zoo::Architecture::parse(architecture, input_shape);
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory()) folders.push_back(entry.path());
  std::sort(folders.begin(), folders.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
  HYPERREP_CHECK(!folders.empty(), DataError, "'", dir, "' holds no model folders");

  ImportedZoo zoo;
  zoo.header.architecture = architecture;
  zoo.header.input_shape = input_shape;
  zoo.header.num_params = arch.num_params();
  fs::path name = fs::absolute(dir).lexically_normal();
  if (name.filename().empty()) name = name.parent_path();  // "zoos/x/" -> "x"
  zoo.header.task = "modelzoo:" + name.filename().string();
  zoo.header.numeric_properties = modelzoo_numeric_properties();
  zoo.header.categorical_properties = modelzoo_categorical_properties();

  for (size_t i = 0; i < folders.size(); ++i) {
    const Folder f = read_folder(folders[i]);
    store::MemberRecord rec;
    rec.member = static_cast<int64_t>(i);
    rec.categorical = f.categorical;
    std::vector<torch::Tensor> rows;
    for (const auto& [epoch, file] : f.checkpoints) {
      rows.push_back(map_weights(arch, read_state_dict(file), file));
      rec.epochs.push_back(epoch);
      std::map<std::string, double> props = f.hyper;
      auto m = f.metrics.find(epoch);
      for (const auto& key : kMetrics) props[key] = m == f.metrics.end() ? kNaN : m->second.at(key);
      props["ggap"] = props["train_acc"] - props["test_acc"];
      props["epoch"] = static_cast<double>(epoch);
      rec.numeric.push_back(std::move(props));
    }
    rec.weights = torch::stack(rows);
    zoo.members.push_back(std::move(rec));
  }
  spdlog::info("imported {} models from {} ({} parameters each)", zoo.members.size(), dir, arch.num_params());
  return zoo;
}

}  // namespace hyperrep::interop

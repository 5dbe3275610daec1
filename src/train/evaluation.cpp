#include "train/evaluation.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "common/error.h"
#include "common/fs.h"
#include "probe/weight_statistics.h"

namespace hyperrep::train {

probe::ProbeSplit make_probe_split(const data::ZooDataset& rows, const torch::Tensor& features,
                                   const std::vector<std::string>& targets) {
  probe::ProbeSplit s;
  s.features = features.to(torch::kFloat64);
  const auto& cats = rows.categorical_names();
  for (const auto& t : targets) {
    const int col = rows.numeric_column(t);
    if (col >= 0) s.continuous[t] = rows.numeric().select(1, col).clone();
    else if (std::find(cats.begin(), cats.end(), t) != cats.end()) s.categorical[t] = rows.categorical(t);
  }
  return s;
}

std::vector<probe::ProbeResult> probe_features(const std::string& method, const TrainData& data,
                                               const std::vector<torch::Tensor>& features, const Config& cfg,
                                               dist::Communicator& comm, const probe::ProbeSplit* ood) {
  const char* names[3] = {"train", "val", "test"};
  std::vector<probe::ProbeSplit> splits;
  for (int i = 0; i < 3; ++i) splits.push_back(make_probe_split(*data.split(names[i]).rows, features[i], cfg.probe.targets));
  auto options = probe::ProbeOptions::from_config(cfg.probe, static_cast<uint64_t>(cfg.train.seed));
  std::vector<std::string> present;
  for (const auto& t : options.targets)
    if (splits[0].continuous.count(t) || splits[0].categorical.count(t)) present.push_back(t);
  if (present.empty()) return {};
  options.targets = present;
  return probe::run_probes(method, splits[0], splits[1], splits[2], options, comm, ood);
}

std::vector<probe::ProbeResult> probe_baselines(const TrainData& data, const Config& cfg, dist::Communicator& comm) {
  probe::WeightStatistics stats(data.architecture());
  std::vector<torch::Tensor> raw, summary;
  for (const char* s : {"train", "val", "test"}) {
    const auto& w = data.split(s).rows->weights();
    raw.push_back(probe::raw_weight_features(w));
    summary.push_back(stats.compute(w));
  }
  auto out = probe_features("W", data, raw, cfg, comm);
  auto sw = probe_features("s(W)", data, summary, cfg, comm);
  out.insert(out.end(), sw.begin(), sw.end());
  return out;
}

std::string results_csv(const std::vector<probe::ProbeResult>& results) {
  std::string out = "target,method,metric,value,lambda\n";
  char buf[64];
  for (const auto& r : results) {
    std::snprintf(buf, sizeof buf, "%.6g,%.6g", r.value, r.lambda);
    out += r.target + "," + r.method + "," + r.metric + "," + buf + "\n";
  }
  return out;
}

std::string results_table(const std::vector<probe::ProbeResult>& results, const std::vector<std::string>& methods) {
  std::vector<std::pair<std::string, std::string>> rows;  // (target, metric) in first-seen order
  std::map<std::pair<std::string, std::string>, std::map<std::string, double>> cell;
  for (const auto& r : results) {
    auto key = std::make_pair(r.target, r.metric);
    if (!cell.count(key)) rows.push_back(key);
    cell[key][r.method] = r.value;
  }
  std::string out = "| target | metric |";
  for (const auto& m : methods) out += " " + m + " |";
  out += "\n|---|---|";
  for (size_t i = 0; i < methods.size(); ++i) out += "---:|";
  out += "\n";
  char buf[32];
  for (const auto& key : rows) {
    out += "| " + key.first + " | " + key.second + " |";
    for (const auto& m : methods) {
      auto it = cell[key].find(m);
      if (it == cell[key].end()) out += " - |";
      else {
        // R^2 and accuracy in percent as in the paper's tables; tau as is.
        const bool percent = key.second != "tau" && key.second != "ood_tau";
        std::snprintf(buf, sizeof buf, percent ? " %.1f |" : " %.3f |", percent ? 100 * it->second : it->second);
        out += buf;
      }
    }
    out += "\n";
  }
  return out;
}

void write_npy(const std::string& path, const torch::Tensor& matrix) {
  auto m = matrix.to(torch::kFloat32).contiguous();
  HYPERREP_CHECK(m.dim() == 2, InternalError, "write_npy expects a matrix");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(m.size(0)) + ", " +
                       std::to_string(m.size(1)) + "), }";
  // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(1);
  out += static_cast<char>(0);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(reinterpret_cast<const char*>(m.data_ptr<float>()), static_cast<size_t>(m.numel()) * sizeof(float));
  write_file_atomic(path, out);
}

}  // namespace hyperrep::train

// Logging set-up: one spdlog pattern with the rank in every line; rank 0 logs at the configured
// level, other ranks at warn unless HYPERREP_LOG_ALL_RANKS is set. Metrics go to JSON lines.
#pragma once

#include <spdlog/spdlog.h>

#include <map>
#include <string>

namespace hyperrep {

void init_logging(int rank, int world_size, const std::string& level = "info");
// Adds a log file (e.g. RUN/log.txt) that receives the same lines.
void add_log_file(const std::string& path);
int log_rank();

// Appends {"key": value, ...} lines to a metrics.jsonl file; only rank 0 writes.
class MetricsWriter {
 public:
  MetricsWriter() = default;
  MetricsWriter(std::string path, int rank) : path_(std::move(path)), rank_(rank) {}
  void write(const std::map<std::string, double>& values, const std::map<std::string, std::string>& tags = {}) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int rank_ = 0;
};

}  // namespace hyperrep

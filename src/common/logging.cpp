#include "common/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdio>
#include <cstdlib>

#include "common/fs.h"
#include "common/json.h"

namespace hyperrep {
namespace {
int g_rank = 0;
}

void init_logging(int rank, int world_size, const std::string& level) {
  g_rank = rank;
  auto logger = std::make_shared<spdlog::logger>("hyperrep", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  const int width = static_cast<int>(std::to_string(std::max(world_size - 1, 0)).size());
  char rank_text[32];
  std::snprintf(rank_text, sizeof rank_text, "%0*d", width, rank);
  logger->set_pattern(std::string("[%Y-%m-%d %H:%M:%S.%e] [rank ") + rank_text + "] [%^%l%$] %v");
  auto lvl = spdlog::level::from_str(level);
  const bool all_ranks = std::getenv("HYPERREP_LOG_ALL_RANKS") != nullptr;
  if (rank != 0 && !all_ranks && lvl < spdlog::level::warn) lvl = spdlog::level::warn;
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

void add_log_file(const std::string& path) {
  auto logger = spdlog::default_logger();
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, false);
  sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [rank " + std::to_string(g_rank) + "] [%l] %v");
  logger->sinks().push_back(sink);
  logger->flush_on(spdlog::level::info);
}

int log_rank() { return g_rank; }

void MetricsWriter::write(const std::map<std::string, double>& values, const std::map<std::string, std::string>& tags) const {
  if (rank_ != 0 || path_.empty()) return;
  JsonWriter line;
  line.begin_object();
  for (const auto& [k, v] : tags) line.key(k).value(v);
  for (const auto& [k, v] : values) line.key(k).value(v);
  line.end_object();
  append_line(path_, line.str());
}

}  // namespace hyperrep

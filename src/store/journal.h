// The in-progress side of the zoo store: per-rank files under ZOO/shards/ (rows, properties
// part, completion journal), their journal lines, and the compaction into the final layout.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "store/store.h"

namespace hyperrep::store {

struct RankFiles {
  std::string rows;     // shards/rank-RRRRR.bin: float32 rows, appended member by member
  std::string props;    // shards/rank-RRRRR.csv: properties rows without a header line
  std::string journal;  // shards/rank-RRRRR.journal: one line per complete member
};
RankFiles rank_files(const std::string& dir, int rank);
std::string header_path(const std::string& dir);  // shards/header: the header the run started with

// One complete member in a rank's files.
struct JournalEntry {
  int64_t member = 0;
  int64_t first_row = 0;
  std::vector<int64_t> epochs;
  int64_t props_begin = 0, props_end = 0;  // byte range in the properties part
  uint32_t rows_crc = 0;                   // CRC32 of the member's rows
  int64_t rows() const { return static_cast<int64_t>(epochs.size()); }
};

// "v1 member first_row props_begin props_end rows_crc e0;e1;... crc\n"; the trailing CRC32 of
// the rest of the line tells a complete line from a torn one.
std::string format_journal_line(const JournalEntry& e);

struct JournalScan {
  std::vector<JournalEntry> entries;
  int64_t valid_bytes = 0;  // prefix of whole, valid, contiguous lines
};
// Keeps the longest valid prefix; a torn or garbled line ends it (and everything after it).
JournalScan scan_journal(const std::string& text, const std::string& source);

// Journals present under ZOO/shards, by rank (any earlier world size included).
std::map<int, std::string> list_rank_journals(const std::string& dir);

void pwrite_all(int fd, const void* data, size_t n, int64_t offset, const std::string& path);
void sync_fd(int fd, const std::string& path);

// Rank 0's part of finalize: checks that members 0..expected-1 are each complete exactly once,
// copies rows (CRC-checked) into canonical shards, writes properties.csv, then the manifest,
// then removes the per-rank files. Safe to rerun after a kill at any point before the manifest.
void compact_zoo(const std::string& dir, const ZooHeader& header, int64_t expected_members, int64_t shard_target_bytes);

}  // namespace hyperrep::store

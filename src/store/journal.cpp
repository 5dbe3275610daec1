#include "store/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "store/manifest.h"

namespace hyperrep::store {
namespace {

namespace fs = std::filesystem;

std::string shard_name(int64_t k) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "shard-%05lld.bin", static_cast<long long>(k));
  return buf;
}

bool parse_entry(const std::string& body, JournalEntry& e) {
  std::istringstream is(body);
  std::string tag, epochs;
  if (!(is >> tag >> e.member >> e.first_row >> e.props_begin >> e.props_end >> e.rows_crc >> epochs) || tag != "v1")
    return false;
  std::string rest;
  if (is >> rest) return false;
  e.epochs.clear();
  std::stringstream es(epochs);
  std::string tok;
  while (std::getline(es, tok, ';')) {
    try {
      size_t used = 0;
      e.epochs.push_back(std::stoll(tok, &used));
      if (used != tok.size()) return false;
    } catch (const std::exception&) {
      return false;
    }
  }
  return !e.epochs.empty() && e.member >= 0 && e.props_end >= e.props_begin;
}

// A rank's part files: its rows file open for reading, its properties read whole (their size
// checked against what the journal says is complete).
struct SourceRank {
  FileDescriptor rows_fd;
  std::string rows_path;
  std::string props;
};

// Every member's journal entry over all rank journals (whatever world size wrote them), with
// the part files of the ranks that hold them.
struct JournalSet {
  std::map<int64_t, std::pair<int, JournalEntry>> found;  // member -> (rank, entry)
  std::map<int, SourceRank> sources;
};

JournalSet read_journals(const std::string& dir, int64_t expected) {
  JournalSet set;
  for (const auto& [rank, journal] : list_rank_journals(dir)) {
    const JournalScan scan = scan_journal(read_file(journal), journal);
    if (scan.entries.empty()) continue;
    for (const auto& e : scan.entries) {
      HYPERREP_CHECK(e.member < expected, DataError, "zoo at ", dir, ": member ", e.member, " in ", journal,
                     " is beyond the expected ", expected, " members");
      auto it = set.found.find(e.member);
      if (it != set.found.end()) {
        const JournalEntry& first = it->second.second;
        HYPERREP_CHECK(first.epochs == e.epochs && first.rows_crc == e.rows_crc, DataError, "zoo at ", dir, ": member ", e.member,
                       " was written by ranks ", it->second.first, " and ", rank, " with different contents");
        spdlog::warn("zoo: member {} written by ranks {} and {} (identical); keeping rank {}", e.member, it->second.first, rank,
                     it->second.first);
        continue;
      }
      set.found.emplace(e.member, std::make_pair(rank, e));
    }
    const RankFiles f = rank_files(dir, rank);
    SourceRank src;
    src.rows_path = f.rows;
    src.props = path_exists(f.props) ? read_file(f.props) : std::string();
    const JournalEntry& last = scan.entries.back();
    HYPERREP_CHECK(static_cast<int64_t>(src.props.size()) >= last.props_end, DataError, "zoo file '", f.props, "' holds ",
                   src.props.size(), " bytes, its journal records ", last.props_end);
    src.rows_fd.reset(::open(f.rows.c_str(), O_RDONLY | O_CLOEXEC));
    HYPERREP_CHECK(src.rows_fd, IoError, "cannot open '", f.rows, "': ", std::strerror(errno));
    set.sources[rank] = std::move(src);
  }
  return set;
}

void check_all_members(const JournalSet& set, const std::string& dir, int64_t expected) {
  std::vector<int64_t> missing;
  for (int64_t m = 0; m < expected; ++m) {
    if (!set.found.count(m)) missing.push_back(m);
  }
  if (missing.empty()) return;
  std::ostringstream os;
  for (size_t i = 0; i < std::min<size_t>(missing.size(), 10); ++i) os << (i ? ", " : "") << missing[i];
  if (missing.size() > 10) os << ", ...";
  HYPERREP_THROW(DataError, "zoo at ", dir, " is missing ", missing.size(), " of ", expected, " members (", os.str(),
                 "); rerun the generation to complete them");
}

// Appends members' rows to numbered shards of about target_bytes each, into the manifest.
class ShardWriter {
 public:
  ShardWriter(const std::string& dir, int64_t target_bytes, ZooManifest& man) : dir_(dir), target_(target_bytes), man_(man) {}

  void add(int64_t member, const std::vector<int64_t>& epochs, const std::vector<char>& rows, int64_t num_rows) {
    const auto nbytes = static_cast<int64_t>(rows.size());
    if (fd_ && cur_.bytes > 0 && cur_.bytes + nbytes > target_) finish();
    if (!fd_) {
      cur_ = FileEntry{"shards/" + shard_name(static_cast<int64_t>(man_.shards.size())), 0, 0, 0};
      path_ = dir_ + "/" + cur_.path;
      fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      HYPERREP_CHECK(fd_, IoError, "cannot create '", path_, "': ", std::strerror(errno));
    }
    pwrite_all(fd_.get(), rows.data(), rows.size(), cur_.bytes, path_);
    man_.members.push_back(MemberIndex{member, static_cast<int64_t>(man_.shards.size()), cur_.rows, epochs});
    cur_.crc32 = crc32_bytes(rows.data(), rows.size(), cur_.crc32);
    cur_.bytes += nbytes;
    cur_.rows += num_rows;
    man_.num_checkpoints += num_rows;
  }

  // Syncs and closes the shard being written, and records it.
  void finish() {
    if (!fd_) return;
    sync_fd(fd_.get(), path_);
    fd_.reset();
    man_.shards.push_back(cur_);
  }

 private:
  std::string dir_;
  int64_t target_;
  ZooManifest& man_;
  FileDescriptor fd_;
  std::string path_;
  FileEntry cur_;
};

// Shards of an earlier, differently sized attempt must not linger.
void remove_shards_from(const std::string& dir, size_t first) {
  static const std::regex kShard(R"(shard-(\d+)\.bin)");
  for (const auto& entry : fs::directory_iterator(shards_dir(dir))) {
    std::smatch sm;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, sm, kShard) && std::stoll(sm[1]) >= static_cast<int64_t>(first)) fs::remove(entry.path());
  }
}

}  // namespace

RankFiles rank_files(const std::string& dir, int rank) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "rank-%05d", rank);
  const std::string base = shards_dir(dir) + "/" + buf;
  return {base + ".bin", base + ".csv", base + ".journal"};
}

std::string header_path(const std::string& dir) { return shards_dir(dir) + "/header"; }

std::string format_journal_line(const JournalEntry& e) {
  std::ostringstream os;
  os << "v1 " << e.member << " " << e.first_row << " " << e.props_begin << " " << e.props_end << " " << e.rows_crc << " ";
  for (size_t i = 0; i < e.epochs.size(); ++i) os << (i ? ";" : "") << e.epochs[i];
  const std::string body = os.str();
  return body + " " + std::to_string(crc32_bytes(body.data(), body.size())) + "\n";
}

JournalScan scan_journal(const std::string& text, const std::string& source) {
  JournalScan scan;
  size_t pos = 0;
  int64_t next_row = 0, next_props = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // torn last line of a killed write
    const std::string line = text.substr(pos, nl - pos);
    const size_t sp = line.rfind(' ');
    JournalEntry e;
    bool ok = sp != std::string::npos;
    if (ok) {
      const std::string body = line.substr(0, sp);
      ok = line.substr(sp + 1) == std::to_string(crc32_bytes(body.data(), body.size())) && parse_entry(body, e) &&
           e.first_row == next_row && e.props_begin == next_props;
    }
    if (!ok) {
      spdlog::warn("zoo: journal {} is damaged at byte {}; members from there on are redone", source, pos);
      break;
    }
    next_row += e.rows();
    next_props = e.props_end;
    scan.entries.push_back(std::move(e));
    pos = nl + 1;
    scan.valid_bytes = static_cast<int64_t>(pos);
  }
  return scan;
}

std::map<int, std::string> list_rank_journals(const std::string& dir) {
  static const std::regex kName(R"(rank-(\d+)\.journal)");
  std::map<int, std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(shards_dir(dir), ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, kName)) out[std::stoi(m[1])] = entry.path().string();
  }
  return out;
}

void pwrite_all(int fd, const void* data, size_t n, int64_t offset, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, offset);
    if (w < 0) {
      if (errno == EINTR) continue;
      HYPERREP_THROW(IoError, "cannot write '", path, "': ", std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset += w;
  }
}

void sync_fd(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) HYPERREP_THROW(IoError, "cannot sync '", path, "': ", std::strerror(errno));
}

void compact_zoo(const std::string& dir, const ZooHeader& header, int64_t expected, int64_t shard_target_bytes) {
  const int64_t L = header.num_params;
  JournalSet set = read_journals(dir, expected);
  check_all_members(set, dir, expected);

  ZooManifest man;
  man.header = header;
  man.num_members = expected;
  std::string csv = properties_csv_header(header);
  {
    ShardWriter shards(dir, shard_target_bytes, man);
    std::vector<char> buf;
    for (int64_t m = 0; m < expected; ++m) {
      const auto& [rank, e] = set.found.at(m);
      const SourceRank& src = set.sources.at(rank);
      buf.resize(static_cast<size_t>(e.rows() * L * kValueBytes));
      const ssize_t r = ::pread(src.rows_fd.get(), buf.data(), buf.size(), e.first_row * L * kValueBytes);
      HYPERREP_CHECK(r == static_cast<ssize_t>(buf.size()), DataError, "zoo file '", src.rows_path,
                     "' ends before the rows of member ", m, " (journal records ", (e.first_row + e.rows()) * L * kValueBytes,
                     " bytes)");
      HYPERREP_CHECK(crc32_bytes(buf.data(), buf.size()) == e.rows_crc, DataError, "zoo file '", src.rows_path,
                     "': rows of member ", m, " are corrupted (CRC32 mismatch)");
      shards.add(m, e.epochs, buf, e.rows());
      csv.append(src.props, static_cast<size_t>(e.props_begin), static_cast<size_t>(e.props_end - e.props_begin));
    }
    shards.finish();
  }
  set.sources.clear();  // closes the part files

  remove_shards_from(dir, man.shards.size());
  fsync_dir(shards_dir(dir));
  write_file_atomic(properties_path(dir), csv);
  man.properties = FileEntry{"properties.csv", man.num_checkpoints, static_cast<int64_t>(csv.size()), crc32_bytes(csv)};
  write_manifest(dir, man);  // the zoo is complete from here on

  for (const auto& [rank, journal] : list_rank_journals(dir)) {
    const RankFiles f = rank_files(dir, rank);
    for (const auto& p : {f.rows, f.props, f.journal}) fs::remove(p);
  }
  fs::remove(header_path(dir));
  fsync_dir(shards_dir(dir));
  spdlog::info("zoo: {} members, {} checkpoints in {} shards at {}", man.num_members, man.num_checkpoints, man.shards.size(),
               dir);
}

}  // namespace hyperrep::store

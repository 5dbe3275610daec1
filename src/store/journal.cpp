#include "store/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>
#include <sstream>
#include <spdlog/spdlog.h>

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
  if (!(is >> tag >> e.member >> e.first_row >> e.props_begin >> e.props_end >> e.rows_crc >> epochs) || tag != "v1") return false;
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

// A rank's part file read whole, its size checked against what the journal says is complete.
struct SourceRank {
  int rows_fd = -1;
  std::string rows_path;
  std::string props;
};

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
  // member -> (rank, entry); every journal counts, whatever world size wrote it.
  std::map<int64_t, std::pair<int, JournalEntry>> found;
  std::map<int, SourceRank> sources;
  for (const auto& [rank, journal] : list_rank_journals(dir)) {
    const JournalScan scan = scan_journal(read_file(journal), journal);
    if (scan.entries.empty()) continue;
    for (const auto& e : scan.entries) {
      HYPERREP_CHECK(e.member < expected, DataError, "zoo at ", dir, ": member ", e.member, " in ", journal,
                     " is beyond the expected ", expected, " members");
      auto it = found.find(e.member);
      if (it != found.end()) {
        const JournalEntry& first = it->second.second;
        HYPERREP_CHECK(first.epochs == e.epochs && first.rows_crc == e.rows_crc, DataError, "zoo at ", dir, ": member ",
                       e.member, " was written by ranks ", it->second.first, " and ", rank, " with different contents");
        spdlog::warn("zoo: member {} written by ranks {} and {} (identical); keeping rank {}", e.member, it->second.first, rank,
                     it->second.first);
        continue;
      }
      found.emplace(e.member, std::make_pair(rank, e));
    }
    const RankFiles f = rank_files(dir, rank);
    SourceRank src;
    src.rows_path = f.rows;
    src.props = path_exists(f.props) ? read_file(f.props) : std::string();
    const JournalEntry& last = scan.entries.back();
    HYPERREP_CHECK(static_cast<int64_t>(src.props.size()) >= last.props_end, DataError, "zoo file '", f.props, "' holds ",
                   src.props.size(), " bytes, its journal records ", last.props_end);
    src.rows_fd = ::open(f.rows.c_str(), O_RDONLY | O_CLOEXEC);
    HYPERREP_CHECK(src.rows_fd >= 0, IoError, "cannot open '", f.rows, "': ", std::strerror(errno));
    sources[rank] = std::move(src);
  }
  auto close_sources = [&] {
    for (auto& [r, src] : sources) ::close(src.rows_fd);
  };

  try {
    std::vector<int64_t> missing;
    for (int64_t m = 0; m < expected; ++m) {
      if (!found.count(m)) missing.push_back(m);
    }
    if (!missing.empty()) {
      std::ostringstream os;
      for (size_t i = 0; i < std::min<size_t>(missing.size(), 10); ++i) os << (i ? ", " : "") << missing[i];
      if (missing.size() > 10) os << ", ...";
      HYPERREP_THROW(DataError, "zoo at ", dir, " is missing ", missing.size(), " of ", expected, " members (", os.str(),
                     "); rerun the generation to complete them");
    }

    ZooManifest man;
    man.header = header;
    man.num_members = expected;
    std::string csv = properties_csv_header(header);
    std::vector<char> buf;
    int out_fd = -1;
    std::string out_path;
    FileEntry cur;
    auto finish_shard = [&] {
      if (out_fd < 0) return;
      sync_fd(out_fd, out_path);
      ::close(out_fd);
      out_fd = -1;
      man.shards.push_back(cur);
    };
    try {
      for (int64_t m = 0; m < expected; ++m) {
        const auto& [rank, e] = found.at(m);
        const SourceRank& src = sources.at(rank);
        const int64_t nbytes = e.rows() * L * 4;
        if (out_fd >= 0 && cur.bytes > 0 && cur.bytes + nbytes > shard_target_bytes) finish_shard();
        if (out_fd < 0) {
          cur = FileEntry{"shards/" + shard_name(static_cast<int64_t>(man.shards.size())), 0, 0, 0};
          out_path = dir + "/" + cur.path;
          out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
          HYPERREP_CHECK(out_fd >= 0, IoError, "cannot create '", out_path, "': ", std::strerror(errno));
        }
        buf.resize(static_cast<size_t>(nbytes));
        const ssize_t r = ::pread(src.rows_fd, buf.data(), buf.size(), e.first_row * L * 4);
        HYPERREP_CHECK(r == nbytes, DataError, "zoo file '", src.rows_path, "' ends before the rows of member ", m,
                       " (journal records ", (e.first_row + e.rows()) * L * 4, " bytes)");
        HYPERREP_CHECK(crc32_bytes(buf.data(), buf.size()) == e.rows_crc, DataError, "zoo file '", src.rows_path,
                       "': rows of member ", m, " are corrupted (CRC32 mismatch)");
        pwrite_all(out_fd, buf.data(), buf.size(), cur.bytes, out_path);
        man.members.push_back(MemberIndex{m, static_cast<int64_t>(man.shards.size()), cur.rows, e.epochs});
        cur.crc32 = crc32_bytes(buf.data(), buf.size(), cur.crc32);
        cur.bytes += nbytes;
        cur.rows += e.rows();
        man.num_checkpoints += e.rows();
        csv.append(src.props, static_cast<size_t>(e.props_begin), static_cast<size_t>(e.props_end - e.props_begin));
      }
      finish_shard();
    } catch (...) {
      if (out_fd >= 0) ::close(out_fd);
      throw;
    }
    close_sources();
    sources.clear();

    // Shards of an earlier, differently sized attempt must not linger.
    static const std::regex kShard(R"(shard-(\d+)\.bin)");
    for (const auto& entry : fs::directory_iterator(shards_dir(dir))) {
      std::smatch sm;
      const std::string name = entry.path().filename().string();
      if (std::regex_match(name, sm, kShard) && std::stoll(sm[1]) >= static_cast<int64_t>(man.shards.size())) {
        fs::remove(entry.path());
      }
    }
    fsync_dir(shards_dir(dir));
    write_file_atomic(properties_path(dir), csv);
    man.properties = FileEntry{"properties.csv", man.num_checkpoints, static_cast<int64_t>(csv.size()),
                               crc32_bytes(csv.data(), csv.size())};
    write_manifest(dir, man);  // the zoo is complete from here on

    for (const auto& [rank, journal] : list_rank_journals(dir)) {
      const RankFiles f = rank_files(dir, rank);
      for (const auto& p : {f.rows, f.props, f.journal}) fs::remove(p);
    }
    fs::remove(header_path(dir));
    fsync_dir(shards_dir(dir));
    spdlog::info("zoo: {} members, {} checkpoints in {} shards at {}", man.num_members, man.num_checkpoints, man.shards.size(), dir);
  } catch (...) {
    close_sources();
    throw;
  }
}

}  // namespace hyperrep::store

// ZooWriter: per-rank append-only shard, properties part and completion journal while a zoo is
// generated; finalize compacts them into canonical shards, properties.csv and the manifest.
#include "store/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/fs.h"
#include "store/journal.h"
#include "store/manifest.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "zoo shards are little-endian float32; add byte swapping");

namespace hyperrep::store {
namespace {

FileDescriptor open_rw(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) HYPERREP_THROW(IoError, "cannot open '", path, "': ", std::strerror(errno));
  return fd;
}

int64_t file_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) HYPERREP_THROW(IoError, "cannot stat '", path, "': ", std::strerror(errno));
  return static_cast<int64_t>(st.st_size);
}

// Drops whatever a killed write left beyond the last complete member.
void truncate_to(int fd, int64_t size, const std::string& path) {
  const int64_t have = file_size(fd, path);
  HYPERREP_CHECK(have >= size, DataError, "zoo file '", path, "' holds ", have, " bytes but its journal records ", size,
                 " bytes of complete members (the file was truncated or replaced)");
  if (have > size) {
    spdlog::warn("zoo: dropping {} bytes of an interrupted write at the end of {}", have - size, path);
    if (::ftruncate(fd, size) != 0) HYPERREP_THROW(IoError, "cannot truncate '", path, "': ", std::strerror(errno));
    ::fsync(fd);
  }
}

}  // namespace

struct ZooWriter::Impl {
  std::string dir;
  ZooHeader header;
  int rank = 0;
  bool complete = false;  // a manifest exists: every member is done, nothing is written
  int64_t complete_members = 0;
  FileDescriptor rows_fd, props_fd, journal_fd;
  int64_t rows_end = 0, props_end = 0;  // rows and bytes of complete members in this rank's files
  std::set<int64_t> done;               // complete members of every rank
  int64_t shard_target_bytes = int64_t{256} << 20;

  RankFiles files() const { return rank_files(dir, rank); }
  void close_files() {
    rows_fd.reset();
    props_fd.reset();
    journal_fd.reset();
  }
  void open();
};

void ZooWriter::Impl::open() {
  if (path_exists(manifest_path(dir))) {
    const ZooManifest m = read_manifest(dir);
    const std::string diff = describe_header_diff(m.header, header);
    HYPERREP_CHECK(diff.empty(), ConfigError, "zoo at ", dir, " is complete but was generated with a different header: ", diff,
                   " (choose another zoo.path or delete ", dir, ")");
    complete = true;
    complete_members = m.num_members;
    for (int64_t i = 0; i < m.num_members; ++i) done.insert(i);
    return;
  }
  make_dirs(shards_dir(dir));
  const std::string header_file = header_path(dir);
  if (path_exists(header_file)) {
    const ZooHeader started = header_from_string(read_file(header_file), header_file);
    const std::string diff = describe_header_diff(started, header);
    HYPERREP_CHECK(diff.empty(), ConfigError, "zoo at ", dir, " was started with a different header: ", diff,
                   " (resume with the same config, choose another zoo.path, or delete ", dir, ")");
  } else {
    write_file_atomic(header_file, header_to_string(header));
  }

  const RankFiles f = files();
  journal_fd = open_rw(f.journal);
  rows_fd = open_rw(f.rows);
  props_fd = open_rw(f.props);
  const JournalScan own = scan_journal(read_file(f.journal), f.journal);
  truncate_to(journal_fd.get(), own.valid_bytes, f.journal);
  if (!own.entries.empty()) {
    rows_end = own.entries.back().first_row + own.entries.back().rows();
    props_end = own.entries.back().props_end;
  }
  truncate_to(rows_fd.get(), rows_end * header.num_params * kValueBytes, f.rows);
  truncate_to(props_fd.get(), props_end, f.props);
  if (::lseek(journal_fd.get(), 0, SEEK_END) < 0) HYPERREP_THROW(IoError, "cannot seek '", f.journal, "'");

  // Members finished by any rank (also of an earlier run with another world size) are done.
  for (const auto& [r, journal] : list_rank_journals(dir)) {
    const JournalScan scan = r == rank ? own : scan_journal(read_file(journal), journal);
    for (const auto& e : scan.entries) done.insert(e.member);
  }
  if (!done.empty()) spdlog::info("zoo: {} members already complete in {}", done.size(), dir);
}

ZooWriter::ZooWriter(const std::string& dir, const ZooHeader& header, int rank) : impl_(std::make_unique<Impl>()) {
  HYPERREP_CHECK(header.num_params > 0, DataError, "zoo header needs num_params > 0 (got ", header.num_params, ")");
  HYPERREP_CHECK(rank >= 0, DataError, "negative rank ", rank);
  impl_->dir = dir;
  impl_->header = header;
  impl_->rank = rank;
  try {
    impl_->open();
  } catch (...) {
    impl_->close_files();
    throw;
  }
}

ZooWriter::~ZooWriter() {
  if (impl_) impl_->close_files();
}

bool ZooWriter::has_member(int64_t member) const { return impl_->done.count(member) > 0; }

void ZooWriter::set_shard_target_bytes(int64_t bytes) {
  HYPERREP_CHECK(bytes > 0, DataError, "shard target size must be positive");
  impl_->shard_target_bytes = bytes;
}

void ZooWriter::write_member(const MemberRecord& record) { write_members({record}); }

void ZooWriter::write_members(const std::vector<MemberRecord>& records) {
  Impl& s = *impl_;
  HYPERREP_CHECK(!s.complete, DataError, "zoo at ", s.dir, " is already complete (it has a manifest); nothing can be added");
  HYPERREP_CHECK(s.rows_fd, InternalError, "zoo writer of ", s.dir, " was finalized");
  const int64_t L = s.header.num_params;
  std::set<int64_t> batch;
  std::vector<std::string> props;
  std::vector<torch::Tensor> rows;
  for (const MemberRecord& record : records) {  // validate everything before writing anything
    HYPERREP_CHECK(record.member >= 0, DataError, "member id ", record.member, " is negative");
    HYPERREP_CHECK(!s.done.count(record.member) && batch.insert(record.member).second, DataError, "member ", record.member,
                   " is already complete in ", s.dir);
    const int64_t E = static_cast<int64_t>(record.epochs.size());
    HYPERREP_CHECK(E >= 1, DataError, "member ", record.member, " has no epochs");
    for (int64_t e = 1; e < E; ++e) {
      HYPERREP_CHECK(record.epochs[e] > record.epochs[e - 1], DataError, "member ", record.member,
                     ": epochs must be strictly ascending");
    }
    HYPERREP_CHECK(
        record.weights.defined() && record.weights.dim() == 2 && record.weights.size(0) == E && record.weights.size(1) == L,
        DataError, "member ", record.member, ": weights must be [", E, ", ", L, "], got ",
        record.weights.defined() ? record.weights.sizes() : c10::IntArrayRef{});
    props.push_back(format_member_properties(s.header, record));
    rows.push_back(record.weights.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  }
  if (records.empty()) return;

  const RankFiles f = s.files();
  std::string lines;
  int64_t row = s.rows_end, props_at = s.props_end;
  for (size_t i = 0; i < records.size(); ++i) {
    const size_t nbytes = static_cast<size_t>(rows[i].numel() * kValueBytes);
    pwrite_all(s.rows_fd.get(), rows[i].data_ptr(), nbytes, row * L * kValueBytes, f.rows);
    pwrite_all(s.props_fd.get(), props[i].data(), props[i].size(), props_at, f.props);
    JournalEntry entry;
    entry.member = records[i].member;
    entry.first_row = row;
    entry.epochs = records[i].epochs;
    entry.props_begin = props_at;
    entry.props_end = props_at + static_cast<int64_t>(props[i].size());
    entry.rows_crc = crc32_bytes(rows[i].data_ptr(), nbytes);
    lines += format_journal_line(entry);
    row += entry.rows();
    props_at = entry.props_end;
  }
  // Data first, journal second: a member is complete only once its journal line is durable, and
  // its line is written only after its rows and properties are. One sync per file per batch.
  sync_fd(s.rows_fd.get(), f.rows);
  sync_fd(s.props_fd.get(), f.props);
  pwrite_all(s.journal_fd.get(), lines.data(), lines.size(), file_size(s.journal_fd.get(), f.journal), f.journal);
  sync_fd(s.journal_fd.get(), f.journal);
  s.rows_end = row;
  s.props_end = props_at;
  s.done.insert(batch.begin(), batch.end());
}

void ZooWriter::finalize(dist::Communicator& comm, int64_t expected_members) {
  Impl& s = *impl_;
  HYPERREP_CHECK(expected_members >= 1, DataError, "finalize needs at least one expected member");
  if (s.complete) {
    HYPERREP_CHECK(s.complete_members == expected_members, DataError, "zoo at ", s.dir, " is complete with ", s.complete_members,
                   " members, expected ", expected_members);
    comm.barrier();
    return;
  }
  comm.barrier();  // every rank has journaled its members
  std::string error;
  std::exception_ptr local_error;
  if (comm.rank() == 0) {
    try {
      compact_zoo(s.dir, s.header, expected_members, s.shard_target_bytes);
    } catch (const std::exception& e) {
      error = e.what();
      local_error = std::current_exception();
    }
  }
  error = comm.broadcast_bytes(error, 0);
  s.close_files();
  comm.barrier();
  if (local_error) std::rethrow_exception(local_error);
  HYPERREP_CHECK(error.empty(), DataError, "zoo finalize failed on rank 0: ", error);
  s.complete = true;
  s.complete_members = expected_members;
}

}  // namespace hyperrep::store

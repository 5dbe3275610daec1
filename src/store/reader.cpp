#include "store/reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"

namespace hyperrep::store {
namespace {

// A file the manifest lists: present, a regular file (a FIFO or a link to a device would block
// or never end), and of exactly the listed size.
void check_file(const std::string& dir, const FileEntry& f) {
  const std::string path = dir + "/" + f.path;
  struct stat st {};
  HYPERREP_CHECK(::stat(path.c_str(), &st) == 0, DataError, "zoo at ", dir, ": missing file '", path,
                 "' (listed in the manifest)");
  HYPERREP_CHECK(S_ISREG(st.st_mode), DataError, "zoo file '", path, "' is not a regular file");
  const auto size = static_cast<int64_t>(st.st_size);
  HYPERREP_CHECK(size == f.bytes, DataError, "zoo file '", path, "' has ", size, " bytes, the manifest expects ", f.bytes,
                 size < f.bytes ? " (truncated)" : " (extra bytes)");
}

double parse_number(const std::string& s, const std::string& where) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  HYPERREP_CHECK(!s.empty() && end == s.c_str() + s.size(), DataError, where, ": '", s, "' is not a number");
  return v;
}

}  // namespace

struct ZooReader::Mapping {
  void* addr = nullptr;
  size_t len = 0;
  ~Mapping() {
    if (addr) ::munmap(addr, len);
  }
};

int PropertyTable::numeric_column(const std::string& name) const {
  auto it = std::find(numeric_names.begin(), numeric_names.end(), name);
  return it == numeric_names.end() ? -1 : static_cast<int>(it - numeric_names.begin());
}

int PropertyTable::categorical_column(const std::string& name) const {
  auto it = std::find(categorical_names.begin(), categorical_names.end(), name);
  return it == categorical_names.end() ? -1 : static_cast<int>(it - categorical_names.begin());
}

bool VerifyReport::ok() const {
  return std::all_of(files.begin(), files.end(), [](const FileCheck& f) { return f.ok; });
}

std::vector<std::string> VerifyReport::bad_files() const {
  std::vector<std::string> out;
  for (const auto& f : files) {
    if (!f.ok) out.push_back(f.path);
  }
  return out;
}

ZooReader::ZooReader(const std::string& dir) : dir_(dir) {
  manifest_ = read_manifest(dir);
  for (const auto& s : manifest_.shards) check_file(dir_, s);
  check_file(dir_, manifest_.properties);
  mappings_.resize(manifest_.shards.size());
  int64_t row = 0;
  for (const auto& m : manifest_.members) {
    global_first_row_.push_back(row);
    row += m.rows();
  }
}

ZooReader::~ZooReader() = default;

const MemberIndex& ZooReader::member(int64_t member) const {
  HYPERREP_CHECK(member >= 0 && member < num_members(), DataError, "zoo at ", dir_, " has members 0..", num_members() - 1,
                 ", not ", member);
  return manifest_.members[static_cast<size_t>(member)];
}

int64_t ZooReader::global_row(int64_t m) const {
  member(m);
  return global_first_row_[static_cast<size_t>(m)];
}

int64_t ZooReader::epoch_row(int64_t m, int64_t epoch) const {
  const auto& e = member(m).epochs;
  auto it = std::lower_bound(e.begin(), e.end(), epoch);
  HYPERREP_CHECK(it != e.end() && *it == epoch, DataError, "zoo at ", dir_, ": member ", m, " has no checkpoint of epoch ", epoch,
                 " (stored epochs ", e.front(), "..", e.back(), ")");
  return it - e.begin();
}

std::shared_ptr<ZooReader::Mapping> ZooReader::map_shard(int64_t shard) const {
  auto& slot = mappings_[static_cast<size_t>(shard)];
  if (slot) return slot;
  const FileEntry& f = manifest_.shards[static_cast<size_t>(shard)];
  const std::string path = dir_ + "/" + f.path;
  int64_t size = 0;
  FileDescriptor fd;
  try {
    fd = open_regular_file(path, &size);
  } catch (const IoError& e) {
    HYPERREP_THROW(DataError, "cannot open zoo shard: ", e.what());
  }
  HYPERREP_CHECK(size == f.bytes, DataError, "zoo file '", path, "' has ", size, " bytes, the manifest expects ", f.bytes);
  auto m = std::make_shared<Mapping>();
  m->len = static_cast<size_t>(f.bytes);
  if (m->len > 0) {
    m->addr = ::mmap(nullptr, m->len, PROT_READ, MAP_SHARED, fd.get(), 0);
    if (m->addr == MAP_FAILED) {
      m->addr = nullptr;
      HYPERREP_THROW(IoError, "cannot mmap '", path, "': ", std::strerror(errno));
    }
  }
  // Every consumer (info, export, baseline, train, embed) reads weights through a mapping: the
  // shard's checksum is checked once, when it is first mapped, so no command trusts a shard
  // that no longer matches the manifest.
  const uint32_t crc = crc32_bytes(m->addr, m->len);
  HYPERREP_CHECK(crc == f.crc32, DataError, "zoo file '", path, "' fails its checksum (CRC32 ", crc32_hex(crc),
                 ", the manifest records ", crc32_hex(f.crc32), "): corrupted; `hyperrep zoo verify ", dir_,
                 "` lists every bad file");
  slot = m;
  return slot;
}

torch::Tensor ZooReader::weights_view(int64_t m) const {
  const MemberIndex& e = member(m);
  auto mapping = map_shard(e.shard);
  auto* base = static_cast<float*>(mapping->addr) + e.first_row * num_params();
  // The deleter holds the mapping, so the view stays valid after the reader is gone.
  return torch::from_blob(
      base, {e.rows(), num_params()}, [mapping](void*) {}, torch::TensorOptions().dtype(torch::kFloat32));
}

torch::Tensor ZooReader::weights(int64_t m) const { return weights_view(m).clone(); }

torch::Tensor ZooReader::row(int64_t m, int64_t epoch) const { return weights_view(m)[epoch_row(m, epoch)].clone(); }

const PropertyTable& ZooReader::properties() const {
  if (properties_) return *properties_;
  const std::string path = dir_ + "/" + manifest_.properties.path;
  const std::string text = read_file(path, manifest_.properties.bytes);
  HYPERREP_CHECK(static_cast<int64_t>(text.size()) == manifest_.properties.bytes &&
                     crc32_bytes(text.data(), text.size()) == manifest_.properties.crc32,
                 DataError, "'", path,
                 "' does not match the manifest's size and checksum: corrupted or edited; `hyperrep zoo verify ", dir_,
                 "` lists every bad file");
  auto table = std::make_unique<PropertyTable>();
  table->numeric_names = property_numeric_columns(header());
  table->categorical_names = header().categorical_properties;
  const size_t K = table->numeric_names.size(), C = table->categorical_names.size();
  size_t pos = text.find('\n');
  HYPERREP_CHECK(pos != std::string::npos && text.substr(0, pos + 1) == properties_csv_header(header()), DataError, "'", path,
                 "': header line does not match the manifest's property schema");
  ++pos;
  int64_t line_no = 1;
  for (int64_t m = 0; m < num_members(); ++m) {
    for (int64_t epoch : manifest_.members[static_cast<size_t>(m)].epochs) {
      ++line_no;
      const size_t nl = text.find('\n', pos);
      const std::string where = path + ":" + std::to_string(line_no);
      HYPERREP_CHECK(nl != std::string::npos, DataError, "'", path, "' ends at line ", line_no, " but the manifest lists ",
                     num_checkpoints(), " rows");
      const auto fields = parse_csv_line(text.substr(pos, nl - pos));
      pos = nl + 1;
      HYPERREP_CHECK(fields.size() == 2 + K + C, DataError, where, ": ", fields.size(), " fields, expected ", 2 + K + C);
      HYPERREP_CHECK(parse_number(fields[0], where) == m && parse_number(fields[1], where) == epoch, DataError, where,
                     ": row is (member ", fields[0], ", epoch ", fields[1], "), the manifest expects (", m, ", ", epoch, ")");
      table->member.push_back(m);
      table->epoch.push_back(epoch);
      std::vector<double> nums(K);
      for (size_t k = 0; k < K; ++k) nums[k] = parse_number(fields[2 + k], where);
      table->numeric.push_back(std::move(nums));
      table->categorical.emplace_back(fields.begin() + 2 + static_cast<std::ptrdiff_t>(K), fields.end());
    }
  }
  HYPERREP_CHECK(pos == text.size(), DataError, "'", path, "' has rows beyond the ", num_checkpoints(), " of the manifest");
  properties_ = std::move(table);
  return *properties_;
}

static VerifyReport verify_files(const std::string& dir, const ZooManifest& manifest) {
  VerifyReport report;
  std::vector<FileEntry> files = manifest.shards;
  files.push_back(manifest.properties);
  for (const auto& f : files) {
    FileCheck check{f.path, true, ""};
    const std::string path = dir + "/" + f.path;
    try {
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) {
        check.problem = "missing";
      } else if (!S_ISREG(st.st_mode)) {
        check.problem = "is not a regular file";  // a FIFO or device would block or never end
      } else if (static_cast<int64_t>(st.st_size) != f.bytes) {
        check.problem = "has " + std::to_string(st.st_size) + " bytes, the manifest expects " + std::to_string(f.bytes);
      } else {
        int64_t bytes = 0;
        const uint32_t crc = crc32_file(path, &bytes);
        if (bytes != f.bytes) {
          check.problem = "has " + std::to_string(bytes) + " bytes, the manifest expects " + std::to_string(f.bytes);
        } else if (crc != f.crc32) {
          check.problem =
              "CRC32 " + std::to_string(crc) + " differs from the manifest's " + std::to_string(f.crc32) + " (corrupted)";
        }
      }
    } catch (const std::exception& e) {
      check.problem = e.what();
    }
    check.ok = check.problem.empty();
    report.files.push_back(std::move(check));
  }
  return report;
}

VerifyReport verify_zoo(const std::string& dir) { return verify_files(dir, read_manifest(dir)); }

VerifyReport ZooReader::verify() const { return verify_files(dir_, manifest_); }

void ZooReader::release_mappings() const {
  for (auto& slot : mappings_)
    if (slot.use_count() == 1) slot.reset();
}

std::string ZooReader::content_hash() const {
  Fnv64 h;
  h.add_pod(num_params());
  for (int64_t m = 0; m < num_members(); ++m) {
    const MemberIndex& e = member(m);
    // One pass over every shard: a shard's mapping is let go once the hash moves past it, so
    // hashing a 5 GB zoo does not keep 5 GB of pages resident.
    if (m > 0 && member(m - 1).shard != e.shard) release_mappings();
    auto mapping = map_shard(e.shard);
    const auto* base = static_cast<const char*>(mapping->addr) + e.first_row * num_params() * kValueBytes;
    for (int64_t r = 0; r < e.rows(); ++r) {
      h.add_pod(m);
      h.add_pod(e.epochs[static_cast<size_t>(r)]);
      h.add(base + r * num_params() * kValueBytes, static_cast<size_t>(num_params() * kValueBytes));
    }
  }
  return h.hex();
}

}  // namespace hyperrep::store

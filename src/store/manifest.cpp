#include "store/manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/archive/text_iarchive.hpp>
#include <boost/archive/text_oarchive.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <boost/serialization/version.hpp>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "common/logging.h"

BOOST_CLASS_VERSION(hyperrep::store::ZooManifest, hyperrep::store::kManifestVersion)
BOOST_CLASS_VERSION(hyperrep::store::ZooHeader, 1)
BOOST_CLASS_VERSION(hyperrep::store::FileEntry, 1)
BOOST_CLASS_VERSION(hyperrep::store::MemberIndex, 1)

namespace boost::serialization {

template <class Archive>
void serialize(Archive& ar, hyperrep::store::ZooHeader& h, const unsigned) {
  ar& h.architecture& h.input_shape& h.num_params& h.task& h.numeric_properties& h.categorical_properties& h.config_toml;
}

template <class Archive>
void serialize(Archive& ar, hyperrep::store::FileEntry& f, const unsigned) {
  ar& f.path& f.rows& f.bytes& f.crc32;
}

template <class Archive>
void serialize(Archive& ar, hyperrep::store::MemberIndex& m, const unsigned) {
  ar& m.member& m.shard& m.first_row& m.epochs;
}

template <class Archive>
void serialize(Archive& ar, hyperrep::store::ZooManifest& m, const unsigned version) {
  ar& m.magic;
  if (m.magic != hyperrep::store::kManifestMagic) {
    HYPERREP_THROW(DataError, "not a hyperrep zoo manifest (magic '", m.magic.substr(0, 40), "')");
  }
  if (version > hyperrep::store::kManifestVersion) {
    HYPERREP_THROW(DataError, "manifest format version ", version, " is newer than this build reads (",
                   hyperrep::store::kManifestVersion, ")");
  }
  ar& m.header& m.shards& m.properties& m.num_members& m.num_checkpoints& m.members;
  m.format_version = version;
}

}  // namespace boost::serialization

namespace hyperrep::store {
namespace {

template <typename T>
std::string to_archive(const T& v) {
  std::ostringstream os;
  {
    boost::archive::text_oarchive ar(os);
    ar << v;
  }
  return os.str();
}

template <typename T>
T from_archive(const std::string& text, const std::string& source) {
  T v;
  try {
    std::istringstream is(text);
    boost::archive::text_iarchive ar(is);
    ar >> v;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    HYPERREP_THROW(DataError, "cannot read '", source, "': ", e.what(), " (corrupted or not a hyperrep zoo file)");
  }
  return v;
}

template <typename T>
std::string join(const std::vector<T>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  return "[" + os.str() + "]";
}

}  // namespace

std::string manifest_path(const std::string& dir) { return dir + "/manifest"; }
std::string properties_path(const std::string& dir) { return dir + "/properties.csv"; }
std::string shards_dir(const std::string& dir) { return dir + "/shards"; }

std::string manifest_to_string(const ZooManifest& m) {
  const std::string body = to_archive(m);
  return body + kManifestChecksumTag + " " + crc32_hex(crc32_bytes(body.data(), body.size())) + "\n";
}

namespace {

// A path the manifest names must stay inside the zoo: `prefix` + one plain file name.
bool plain_path(const std::string& path, const std::string& prefix) {
  if (path.compare(0, prefix.size(), prefix) != 0) return false;
  return is_plain_file_name(path.substr(prefix.size()));
}

// Splits off and checks the checksum line; returns the archive text before it. A version-1
// manifest has none (checked after parsing, when the version is known).
std::string checked_body(const std::string& text, const std::string& source, bool* has_checksum) {
  const std::string tag = std::string("\n") + kManifestChecksumTag + " ";
  const size_t at = text.rfind(tag);
  *has_checksum = at != std::string::npos;
  if (!*has_checksum) return text;
  const std::string body = text.substr(0, at + 1);
  const std::string rest = text.substr(at + tag.size());
  unsigned stored = 0;
  char tail = 0;
  const bool parsed = rest.size() == 9 && rest[8] == '\n' && std::sscanf(rest.c_str(), "%8x%c", &stored, &tail) == 2;
  HYPERREP_CHECK(parsed, DataError, "manifest '", source, "': malformed checksum line (truncated or edited)");
  const uint32_t actual = crc32_bytes(body.data(), body.size());
  HYPERREP_CHECK(actual == stored, DataError, "manifest '", source, "' fails its checksum (stored ", rest.substr(0, 8),
                 ", computed ", crc32_hex(actual), "): it was corrupted or edited; regenerate or re-import the zoo");
  return body;
}

}  // namespace

ZooManifest manifest_from_string(const std::string& text, const std::string& source) {
  bool has_checksum = false;
  const std::string body = checked_body(text, source, &has_checksum);
  ZooManifest m;
  try {
    m = from_archive<ZooManifest>(body, source);
  } catch (const DataError& e) {
    const std::string what = e.what();
    if (what.find(source) != std::string::npos) throw;
    HYPERREP_THROW(DataError, "cannot read '", source, "': ", what);
  }
  if (!has_checksum) {
    HYPERREP_CHECK(m.format_version < 2, DataError, "manifest '", source, "' (format ", m.format_version,
                   ") has lost its checksum line: truncated or edited; regenerate or re-import the zoo");
    static std::set<std::string> warned;  // once per manifest and process
    if (warned.insert(source).second)
      spdlog::warn(
          "manifest '{}' is format {}, which has no checksum of its own: its contents are unchecked "
          "(the shard and properties checksums still are); regenerate or re-import the zoo to upgrade it",
          source, m.format_version);
  }
  // Cross-check the index so that a reader never trusts an inconsistent manifest.
  auto bad = [&](auto... parts) { HYPERREP_THROW(DataError, "manifest '", source, "' is inconsistent: ", parts...); };
  if (m.header.num_params <= 0 || m.header.num_params > kMaxManifestParams) bad("num_params = ", m.header.num_params);
  if (m.header.input_shape.empty() || m.header.input_shape.size() > 4)
    bad("input shape of ", m.header.input_shape.size(), " dimensions");
  double input_numel = 1;
  for (auto d : m.header.input_shape) {
    if (d < 1 || d > (int64_t{1} << 24)) bad("input shape ", join(m.header.input_shape));
    input_numel *= static_cast<double>(d);
  }
  if (input_numel > static_cast<double>(int64_t{1} << 31)) bad("input shape ", join(m.header.input_shape), " is too large");
  if (m.num_members < 0 || m.num_checkpoints < 0) bad("negative member or checkpoint count");
  if (!plain_path(m.properties.path, "")) bad("properties file '", m.properties.path, "' is not a file name inside the zoo");
  for (const auto& f : m.shards) {
    if (!plain_path(f.path, "shards/")) bad("shard path '", f.path, "' is not a file inside the zoo's shards/ directory");
    if (f.rows < 0 || f.bytes < 0) bad("shard ", f.path, " with negative size");
  }
  if (static_cast<int64_t>(m.members.size()) != m.num_members)
    bad(m.members.size(), " index entries for ", m.num_members, " members");
  int64_t checkpoints = 0;
  std::vector<int64_t> next_row(m.shards.size(), 0);
  for (size_t i = 0; i < m.members.size(); ++i) {
    const auto& e = m.members[i];
    if (e.member != static_cast<int64_t>(i)) bad("index entry ", i, " names member ", e.member);
    if (e.shard < 0 || e.shard >= static_cast<int64_t>(m.shards.size())) bad("member ", i, " in shard ", e.shard);
    if (e.first_row != next_row[e.shard]) bad("member ", i, " starts at row ", e.first_row, " of shard ", e.shard);
    for (size_t k = 0; k < e.epochs.size(); ++k) {
      if (e.epochs[k] < 0) bad("member ", i, " has a negative epoch ", e.epochs[k]);
      if (k > 0 && e.epochs[k] <= e.epochs[k - 1])
        bad("member ", i, "'s epochs are not strictly ascending (", e.epochs[k - 1], " then ", e.epochs[k], ")");
    }
    next_row[e.shard] += e.rows();
    checkpoints += e.rows();
  }
  if (checkpoints != m.num_checkpoints) bad(checkpoints, " indexed rows for ", m.num_checkpoints, " checkpoints");
  for (size_t s = 0; s < m.shards.size(); ++s) {
    if (m.shards[s].rows != next_row[s])
      bad("shard ", m.shards[s].path, " lists ", m.shards[s].rows, " rows, index ", next_row[s]);
    if (m.shards[s].bytes != m.shards[s].rows * m.header.num_params * kValueBytes) bad("shard ", m.shards[s].path, " byte size");
  }
  return m;
}

ZooManifest read_manifest(const std::string& dir) {
  const std::string path = manifest_path(dir);
  HYPERREP_CHECK(path_exists(path), DataError, "zoo at ", dir, " is incomplete or missing: no manifest (", path,
                 "); generate it or let an interrupted generation finish");
  // A manifest is small (its index has a line per member): a multi-GB one is not a manifest.
  return manifest_from_string(read_file(path, int64_t{1} << 30), path);
}

void write_manifest(const std::string& dir, const ZooManifest& m) {
  write_file_atomic(manifest_path(dir), manifest_to_string(m));
}

std::string header_to_string(const ZooHeader& h) { return to_archive(h); }
ZooHeader header_from_string(const std::string& text, const std::string& source) { return from_archive<ZooHeader>(text, source); }

std::string describe_header_diff(const ZooHeader& a, const ZooHeader& b) {
  if (a.architecture != b.architecture) return "architecture " + join(a.architecture) + " vs " + join(b.architecture);
  if (a.input_shape != b.input_shape) return "input_shape " + join(a.input_shape) + " vs " + join(b.input_shape);
  if (a.num_params != b.num_params) return "num_params " + std::to_string(a.num_params) + " vs " + std::to_string(b.num_params);
  if (a.task != b.task) return "task '" + a.task + "' vs '" + b.task + "'";
  if (a.numeric_properties != b.numeric_properties)
    return "numeric_properties " + join(a.numeric_properties) + " vs " + join(b.numeric_properties);
  if (a.categorical_properties != b.categorical_properties)
    return "categorical_properties " + join(a.categorical_properties) + " vs " + join(b.categorical_properties);
  if (a.config_toml != b.config_toml) return "config (the [zoo] section that generates the zoo)";
  return "";
}

std::vector<std::string> property_numeric_columns(const ZooHeader& h) {
  std::vector<std::string> out;
  for (const auto& n : h.numeric_properties) {
    if (n != "member" && n != "epoch") out.push_back(n);
  }
  return out;
}

std::string properties_csv_header(const ZooHeader& h) {
  std::string line = "member,epoch";
  for (const auto& n : property_numeric_columns(h)) line += "," + csv_field(n);
  for (const auto& n : h.categorical_properties) line += "," + csv_field(n);
  return line + "\n";
}

std::string format_member_properties(const ZooHeader& h, const MemberRecord& r) {
  const auto numeric = property_numeric_columns(h);
  HYPERREP_CHECK(r.numeric.size() == r.epochs.size(), DataError, "member ", r.member, ": ", r.numeric.size(),
                 " property rows for ", r.epochs.size(), " epochs");
  std::string cats;
  for (const auto& c : h.categorical_properties) {
    auto it = r.categorical.find(c);
    HYPERREP_CHECK(it != r.categorical.end(), DataError, "member ", r.member, ": missing categorical property '", c, "'");
    HYPERREP_CHECK(it->second.find_first_of("\r\n") == std::string::npos, DataError, "member ", r.member,
                   ": categorical property '", c, "' contains a line break");
    cats += "," + csv_field(it->second);
  }
  std::string out;
  for (size_t e = 0; e < r.epochs.size(); ++e) {
    out += std::to_string(r.member) + "," + std::to_string(r.epochs[e]);
    for (const auto& n : numeric) {
      auto it = r.numeric[e].find(n);
      HYPERREP_CHECK(it != r.numeric[e].end(), DataError, "member ", r.member, " epoch ", r.epochs[e],
                     ": missing numeric property '", n, "'");
      out += "," + format_double(it->second);
    }
    out += cats + "\n";
  }
  return out;
}

}  // namespace hyperrep::store

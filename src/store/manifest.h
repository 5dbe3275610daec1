// The zoo's on-disk formats other than raw shards (docs/zoo_format.md): the manifest
// (Boost.Serialization text archive, versioned), file names, CRC32s and the properties CSV rows.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/csv.h"
#include "common/format.h"
#include "common/hash.h"
#include "store/store.h"

namespace hyperrep::store {

inline constexpr const char* kManifestMagic = "hyperrep-zoo-manifest";
// Bumped together with BOOST_CLASS_VERSION(ZooManifest) whenever the layout changes. Version 2
// ends the file in a checksum line of its own (kManifestChecksumTag); version 1 manifests still
// load, with a warning that their contents are unchecked.
inline constexpr unsigned kManifestVersion = 2;
inline constexpr const char* kManifestChecksumTag = "hyperrep-manifest-crc32";
// Most floats per row a manifest may declare (rows are indexed in int64 bytes).
inline constexpr int64_t kMaxManifestParams = int64_t{1} << 31;

// One file of a complete zoo, relative to the zoo directory.
struct FileEntry {
  std::string path;
  int64_t rows = 0;  // weight rows (shards) or data rows without the header line (CSV)
  int64_t bytes = 0;
  uint32_t crc32 = 0;  // zlib CRC32 of the whole file
};

// Where a member's rows live: consecutive rows [first_row, first_row + epochs.size()) of a shard.
struct MemberIndex {
  int64_t member = 0;
  int64_t shard = 0;
  int64_t first_row = 0;
  std::vector<int64_t> epochs;
  int64_t rows() const { return static_cast<int64_t>(epochs.size()); }
};

struct ZooManifest {
  std::string magic = kManifestMagic;
  ZooHeader header;
  std::vector<FileEntry> shards;  // shards/shard-NNNNN.bin, members in canonical order
  FileEntry properties;           // properties.csv
  int64_t num_members = 0;
  int64_t num_checkpoints = 0;
  std::vector<MemberIndex> members;            // members[i].member == i
  unsigned format_version = kManifestVersion;  // as read (not stored: the archive's class version)
};

// Paths inside a zoo directory.
std::string manifest_path(const std::string& dir);
std::string properties_path(const std::string& dir);
std::string shards_dir(const std::string& dir);

// Text archive of the manifest followed by its checksum line; from_string throws DataError
// naming source on any defect: a checksum that does not match, an index that does not add up,
// member epochs that are not strictly ascending and non-negative, a file path that leaves the
// zoo directory, sizes past what a zoo can hold.
std::string manifest_to_string(const ZooManifest& m);
ZooManifest manifest_from_string(const std::string& text, const std::string& source);
// Missing manifest -> DataError "zoo at DIR is incomplete or missing: no manifest".
ZooManifest read_manifest(const std::string& dir);
void write_manifest(const std::string& dir, const ZooManifest& m);

// Header archive used to detect a resume with a different header; describe_header_diff names
// the first differing field ("" when equal).
std::string header_to_string(const ZooHeader& h);
ZooHeader header_from_string(const std::string& text, const std::string& source);
std::string describe_header_diff(const ZooHeader& a, const ZooHeader& b);

// Properties CSV: member, epoch, the numeric columns (header order, without member/epoch),
// then the categorical columns. Numbers in shortest round-trip form; strings RFC 4180 quoted.
std::vector<std::string> property_numeric_columns(const ZooHeader& h);
std::string properties_csv_header(const ZooHeader& h);
// Rows of one member (one line each, '\n' terminated); throws DataError on missing keys.
std::string format_member_properties(const ZooHeader& h, const MemberRecord& r);

}  // namespace hyperrep::store

// What `zoo info` reports about a stored zoo: checkpoints per member, the epoch range, bytes on
// disk, each numeric property's range and the members per value of each categorical one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "store/reader.h"

namespace hyperrep::store {

struct PropertyRange {
  double min = 0.0, max = 0.0;  // over the finite values; min > max when there are none
  int64_t non_finite = 0;
};

struct ZooSummary {
  int64_t min_rows = 0, max_rows = 0;    // checkpoints per member
  int64_t min_epoch = 0, max_epoch = 0;  // over all members
  int64_t shard_bytes = 0;
  std::vector<PropertyRange> numeric;                      // one per PropertyTable::numeric_names
  std::vector<std::map<std::string, int64_t>> categories;  // one per categorical name: members per value
};

// Reads the properties (not the weights) of the zoo.
ZooSummary summarize_zoo(const ZooReader& reader);

}  // namespace hyperrep::store

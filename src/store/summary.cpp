#include "store/summary.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hyperrep::store {

ZooSummary summarize_zoo(const ZooReader& reader) {
  ZooSummary s;
  const auto& members = reader.manifest().members;
  if (!members.empty()) {
    s.min_rows = s.min_epoch = std::numeric_limits<int64_t>::max();
    s.max_rows = 0;
    s.max_epoch = -1;
  }
  for (const auto& m : members) {
    s.min_rows = std::min(s.min_rows, m.rows());
    s.max_rows = std::max(s.max_rows, m.rows());
    s.min_epoch = std::min(s.min_epoch, m.epochs.front());
    s.max_epoch = std::max(s.max_epoch, m.epochs.back());
  }
  for (const auto& f : reader.manifest().shards) s.shard_bytes += f.bytes;

  const PropertyTable& props = reader.properties();
  s.numeric.assign(props.numeric_names.size(),
                   PropertyRange{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), 0});
  for (const auto& row : props.numeric) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (!std::isfinite(row[c])) {
        ++s.numeric[c].non_finite;
        continue;
      }
      s.numeric[c].min = std::min(s.numeric[c].min, row[c]);
      s.numeric[c].max = std::max(s.numeric[c].max, row[c]);
    }
  }
  // Categorical properties belong to the member: count members, from each member's first row.
  s.categories.resize(props.categorical_names.size());
  for (int64_t m = 0; m < reader.num_members(); ++m) {
    const auto& row = props.categorical[static_cast<size_t>(reader.global_row(m))];
    for (size_t c = 0; c < row.size(); ++c) ++s.categories[c][row[c]];
  }
  return s;
}

}  // namespace hyperrep::store

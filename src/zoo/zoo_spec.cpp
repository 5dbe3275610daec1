#include "zoo/zoo_spec.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "common/error.h"

namespace hyperrep::zoo {

std::string MemberSpec::structure_key() const {
  std::ostringstream os;
  os.precision(17);
  os << activation << "|" << dropout << "|" << optimizer;
  return os.str();
}

std::vector<MemberSpec> expand_grid(const ZooConfig& zoo) {
  HYPERREP_CHECK(zoo.num_seeds >= 1, ConfigError, "zoo.num_seeds must be >= 1");
  std::vector<MemberSpec> out;
  for (const auto& act : zoo.activation)
    for (const auto& init : zoo.init)
      for (double dropout : zoo.dropout)
        for (const auto& opt : zoo.optimizer)
          for (double lr : zoo.lr)
            for (double wd : zoo.weight_decay)
              for (int64_t s = 0; s < zoo.num_seeds; ++s) {
                MemberSpec m;
                m.id = static_cast<int64_t>(out.size());
                m.seed = zoo.seed_offset + s;
                m.activation = act;
                m.init = init;
                m.dropout = dropout;
                m.optimizer = opt;
                m.lr = lr;
                m.weight_decay = wd;
                out.push_back(std::move(m));
              }
  return out;
}

std::vector<std::vector<int64_t>> group_populations(const std::vector<MemberSpec>& members, int64_t population_size) {
  HYPERREP_CHECK(population_size >= 1, ConfigError, "zoo.population_size must be >= 1");
  std::vector<std::string> order;
  std::map<std::string, std::vector<int64_t>> buckets;
  for (const auto& m : members) {
    const auto key = m.structure_key();
    auto it = buckets.find(key);
    if (it == buckets.end()) {
      order.push_back(key);
      it = buckets.emplace(key, std::vector<int64_t>{}).first;
    }
    it->second.push_back(m.id);
  }
  std::vector<std::vector<int64_t>> out;
  for (const auto& key : order) {
    const auto& ids = buckets[key];
    for (size_t i = 0; i < ids.size(); i += static_cast<size_t>(population_size)) {
      const size_t end = std::min(ids.size(), i + static_cast<size_t>(population_size));
      out.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(i), ids.begin() + static_cast<std::ptrdiff_t>(end));
    }
  }
  return out;
}

std::vector<size_t> populations_of_rank(size_t num_populations, int rank, int world_size) {
  HYPERREP_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, DistributedError, "bad rank ", rank, " of ", world_size);
  std::vector<size_t> out;
  for (size_t i = static_cast<size_t>(rank); i < num_populations; i += static_cast<size_t>(world_size)) out.push_back(i);
  return out;
}

std::vector<int64_t> kept_epochs(const ZooConfig& zoo) {
  std::vector<int64_t> out;
  if (zoo.keep_epochs.empty()) {
    for (int64_t e = 0; e <= zoo.epochs; ++e) out.push_back(e);
    return out;
  }
  for (int64_t e : zoo.keep_epochs) {
    HYPERREP_CHECK(e >= 0 && e <= zoo.epochs, ConfigError, "zoo.keep_epochs: epoch ", e, " is outside 0..zoo.epochs (",
                   zoo.epochs, ")");
    out.push_back(e);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace hyperrep::zoo

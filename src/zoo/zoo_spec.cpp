#include "zoo/zoo_spec.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>

#include "common/error.h"

namespace hyperrep::zoo {

std::string MemberSpec::structure_key() const { return activation + "|" + optimizer; }

namespace {

// A uniform double in [0, 1) from (seed, member, hyper-parameter): splitmix64 of a counter.
double unit_draw(int64_t seed, int64_t member, uint64_t what) {
  uint64_t z = static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(member) * 0xD1B54A32D192ED03ULL +
               (what + 1) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

template <typename T>
const T& pick(const std::vector<T>& choices, double u) {
  return choices[std::min(choices.size() - 1, static_cast<size_t>(u * static_cast<double>(choices.size())))];
}

std::vector<MemberSpec> random_members(const ZooConfig& zoo) {
  HYPERREP_CHECK(zoo.num_configs >= 1, ConfigError, "zoo.num_configs must be >= 1 with zoo.search = \"random\"");
  std::map<std::string, SampleSpec> declared;
  for (const auto& text : zoo.sample) {
    SampleSpec s = parse_sample_spec(text);
    HYPERREP_CHECK(declared.emplace(s.name, s).second, ConfigError, "zoo.sample: '", s.name, "' is declared twice");
  }
  std::vector<MemberSpec> out;
  for (int64_t i = 0; i < zoo.num_configs; ++i) {
    auto draw = [&](uint64_t what) { return unit_draw(zoo.seed_offset, i, what); };
    auto number = [&](const char* name, uint64_t what, const std::vector<double>& list) {
      auto it = declared.find(name);
      if (it == declared.end()) return pick(list, draw(what));
      const SampleSpec& s = it->second;
      const double u = draw(what);
      const double v =
          s.log ? std::exp(std::log(s.low) + u * (std::log(s.high) - std::log(s.low))) : s.low + u * (s.high - s.low);
      return std::clamp(v, s.low, s.high);  // exp(log) may land one ulp outside
    };
    MemberSpec m;
    m.id = i;
    m.seed = zoo.seed_offset + i;
    m.activation = pick(zoo.activation, draw(0));
    m.init = pick(zoo.init, draw(1));
    m.optimizer = pick(zoo.optimizer, draw(2));
    m.lr = number("lr", 3, zoo.lr);
    m.weight_decay = number("weight_decay", 4, zoo.weight_decay);
    m.dropout = number("dropout", 5, zoo.dropout);
    m.train_fraction = number("train_fraction", 6, zoo.train_fraction);
    m.init_std = number("init_std", 7, zoo.init_std);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

std::vector<MemberSpec> expand_grid(const ZooConfig& zoo) {
  if (zoo.search == "random") return random_members(zoo);
  HYPERREP_CHECK(zoo.num_seeds >= 1, ConfigError, "zoo.num_seeds must be >= 1");
  std::vector<MemberSpec> out;
  for (const auto& act : zoo.activation)
    for (const auto& init : zoo.init)
      for (double dropout : zoo.dropout)
        for (const auto& opt : zoo.optimizer)
          for (double lr : zoo.lr)
            for (double wd : zoo.weight_decay)
              for (double fraction : zoo.train_fraction)
                for (double init_std : zoo.init_std)
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
                    m.train_fraction = fraction;
                    m.init_std = init_std;
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

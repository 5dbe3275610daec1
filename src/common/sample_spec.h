// zoo.sample: the distributions a random search space declares for its numeric hyper-parameters.
// One parser, used by the config check and by the zoo's member expansion.
#pragma once

#include <string>

namespace hyperrep {

// "name=uniform(a,b)" or "name=log_uniform(a,b)", name one of lr, weight_decay, dropout,
// train_fraction, init_std.
struct SampleSpec {
  std::string name;
  bool log = false;
  double low = 0.0, high = 0.0;
};

// Throws ConfigError naming the entry and what is wrong (unknown name or distribution, bounds
// out of order, non-positive log bounds, a rate outside its range).
SampleSpec parse_sample_spec(const std::string& text);

}  // namespace hyperrep

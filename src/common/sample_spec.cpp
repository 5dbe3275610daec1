#include "common/sample_spec.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>

#include "common/error.h"

namespace hyperrep {
namespace {

constexpr const char* kSampled[] = {"lr", "weight_decay", "dropout", "train_fraction", "init_std"};

}  // namespace

SampleSpec parse_sample_spec(const std::string& text) {
  auto fail = [&](auto... why) {
    HYPERREP_THROW(ConfigError, "zoo.sample: '", text, "': ", why...,
                   " (expected name=uniform(a,b) or name=log_uniform(a,b), name one of lr, weight_decay, dropout, "
                   "train_fraction, init_std)");
  };
  std::string t;
  for (char c : text)
    if (c != ' ' && c != '\t') t += c;
  const size_t eq = t.find('='), open = t.find('('), comma = t.find(','), close = t.find(')');
  if (eq == std::string::npos || open == std::string::npos || comma == std::string::npos || close != t.size() - 1 ||
      !(eq < open && open < comma && comma < close))
    fail("malformed");
  SampleSpec s;
  s.name = t.substr(0, eq);
  if (std::find_if(std::begin(kSampled), std::end(kSampled), [&](const char* n) { return s.name == n; }) == std::end(kSampled))
    fail("'", s.name, "' cannot be sampled");
  const std::string dist = t.substr(eq + 1, open - eq - 1);
  if (dist != "uniform" && dist != "log_uniform") fail("unknown distribution '", dist, "'");
  s.log = dist == "log_uniform";
  auto number = [&](const std::string& v) {
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(d)) fail("'", v, "' is not a number");
    return d;
  };
  s.low = number(t.substr(open + 1, comma - open - 1));
  s.high = number(t.substr(comma + 1, close - comma - 1));
  if (!(s.low <= s.high)) fail("the lower bound exceeds the upper");
  if (s.log && s.low <= 0) fail("log_uniform needs positive bounds");
  if (s.low < 0) fail("bounds must not be negative");
  if (s.name == "dropout" && s.high > 0.95) fail("dropout above 0.95");
  if (s.name == "train_fraction" && (s.low <= 0 || s.high > 1)) fail("train_fraction outside (0, 1]");
  if (s.name == "lr" && s.low <= 0) fail("lr must be positive");
  return s;
}

}  // namespace hyperrep

#include "train/train_state.h"

#include <boost/archive/text_iarchive.hpp>
#include <boost/archive/text_oarchive.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <boost/serialization/version.hpp>
#include <cmath>
#include <sstream>

#include "common/error.h"

namespace boost::serialization {

template <class Archive>
void serialize(Archive& ar, hyperrep::train::TrainState& s, const unsigned int /*version*/) {
  ar& s.epoch& s.step_in_epoch& s.global_step& s.lr& s.best_metric& s.bad_epochs;
  ar& s.epoch_loss_sum& s.epoch_batches& s.elapsed_s& s.config_hash& s.world_size& s.rng_states;
}

}  // namespace boost::serialization

BOOST_CLASS_VERSION(hyperrep::train::TrainState, 1)

namespace hyperrep::train {

namespace {
constexpr const char* kMagic = "hyperrep-train-state";
}

std::string serialize_state(const TrainState& s) {
  for (double v : {s.lr, s.best_metric, s.epoch_loss_sum, s.elapsed_s}) {
    HYPERREP_CHECK(std::isfinite(v), DataError,
                   "train state holds a non-finite value; refusing to write a checkpoint that cannot be read");
  }
  std::ostringstream os;
  os << kMagic << "\n";
  {
    boost::archive::text_oarchive ar(os);
    ar << s;
  }
  // A checkpoint that resume would pick must load: read the state back before it is written.
  deserialize_state(os.str(), "state.txt (check before writing)");
  return os.str();
}

TrainState deserialize_state(const std::string& text, const std::string& where) {
  std::istringstream is(text);
  std::string magic;
  std::getline(is, magic);
  HYPERREP_CHECK(magic == kMagic, DataError, "'", where, "' is not a hyperrep train state");
  TrainState s;
  try {
    boost::archive::text_iarchive ar(is);
    ar >> s;
  } catch (const std::exception& e) {
    HYPERREP_THROW(DataError, "cannot read train state '", where, "': ", e.what());
  }
  return s;
}

std::string to_hex(const std::string& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string from_hex(const std::string& hex) {
  HYPERREP_CHECK(hex.size() % 2 == 0, DataError, "odd-length hex string");
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    HYPERREP_THROW(DataError, "bad hex digit '", c, "'");
  };
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(val(hex[2 * i]) * 16 + val(hex[2 * i + 1]));
  return out;
}

}  // namespace hyperrep::train

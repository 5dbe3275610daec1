// Test helper: the message of the DataError a callable throws, or "<no DataError>".
#pragma once

#include <string>

#include "common/error.h"

namespace hyperrep::testing {

template <typename Fn>
std::string data_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const DataError& e) {
    return e.what();
  }
  return "<no DataError>";
}

}  // namespace hyperrep::testing

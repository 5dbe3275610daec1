// Numbers as text: the one way hyperrep writes a floating-point value into a file (CSV, JSON,
// properties, tables of results), shortest text that reads back to the same double.
#pragma once

#include <string>

namespace hyperrep {

// Shortest round-trip decimal (std::to_chars), "nan", "inf" or "-inf" for non-finite values.
std::string format_double(double v);

}  // namespace hyperrep

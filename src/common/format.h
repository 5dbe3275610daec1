// Numbers as text: the one way hyperrep writes a floating-point value into a file (CSV, JSON,
// properties, tables of results), shortest text that reads back to the same double. And the one
// trim of the parsers that read text (layer specs, sweep files, CSV cells).
#pragma once

#include <string>
#include <string_view>

namespace hyperrep {

// Shortest round-trip decimal (std::to_chars), "nan", "inf" or "-inf" for non-finite values.
std::string format_double(double v);

// s without the leading and trailing characters found in blanks.
std::string trim(std::string_view s, std::string_view blanks = " \t\r\n");

}  // namespace hyperrep

// CSV as hyperrep writes and reads it (RFC 4180 quoting), one helper each for a field and a
// line: properties.csv, results.csv, probe and sweep tables all go through these.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hyperrep {

// The field as written: quoted (with "" for a quote) when it holds a comma, a quote, \r or \n.
std::string csv_field(std::string_view s);
// One CSV line (no trailing newline) split into fields, the quoting undone. A quoted field may
// hold commas and doubled quotes; an unterminated quote runs to the end of the line.
std::vector<std::string> parse_csv_line(std::string_view line);

}  // namespace hyperrep

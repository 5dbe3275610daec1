// Text tables of other programs (the public zoos' metrics.csv[.gz] and layout.csv): a line reader
// that reads plain and gzip-compressed files alike, in bounded memory, and the helpers that read
// columns by name and cells as numbers, each error naming the file and line.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hyperrep::interop {

// Lines of a text file that may be gzip-compressed (zlib reads plain files as they are). A line
// longer than kMaxLine is an error, so a file without newlines (or a gzip bomb of one) is refused
// after reading at most that much. A truncated or corrupt gzip stream is a DataError.
class LineReader {
 public:
  static constexpr size_t kMaxLine = size_t{1} << 20;

  explicit LineReader(const std::string& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its newline (and \r); false at the end of the file.
  bool next(std::string& line);
  // 1-based number of the line next() returned last.
  int64_t line_number() const { return number_; }

 private:
  std::string path_;
  gzFile gz_ = nullptr;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  int64_t number_ = 0;
};

// What may surround a cell's value (trim(cell, kCsvBlanks)).
inline constexpr const char* kCsvBlanks = " \t\r";

// Column positions of a CSV header by name; a leading unnamed column (an index) is allowed. A
// nameless or repeated column is a DataError naming path.
std::map<std::string, size_t> csv_columns(const std::vector<std::string>& names, const std::string& path);

// A cell as a number (surrounding blanks allowed; an empty cell is NaN); false when it is text.
bool parse_csv_number(const std::string& text, double& v);

// A cell as a non-negative integer; DataError "<what>: '<text>' is not a non-negative integer".
int64_t parse_csv_index(const std::string& text, const std::string& what);

}  // namespace hyperrep::interop

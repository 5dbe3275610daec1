#include "interop/csv_file.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "common/error.h"
#include "common/format.h"
#include "common/fs.h"

namespace hyperrep::interop {

LineReader::LineReader(const std::string& path) : path_(path) {
  FileDescriptor fd = open_regular_file(path);
  const int own = ::dup(fd.get());
  HYPERREP_CHECK(own >= 0, IoError, "cannot read '", path, "'");
  gz_ = gzdopen(own, "rb");
  if (!gz_) {
    ::close(own);
    HYPERREP_THROW(IoError, "cannot read '", path, "'");
  }
  gzbuffer(gz_, 1 << 16);
}

LineReader::~LineReader() {
  if (gz_) gzclose(gz_);
}

bool LineReader::next(std::string& line) {
  line.clear();
  while (true) {
    const size_t nl = buf_.find('\n', pos_);
    if (nl != std::string::npos) {
      line.assign(buf_, pos_, nl - pos_);
      pos_ = nl + 1;
      break;
    }
    HYPERREP_CHECK(buf_.size() - pos_ <= kMaxLine, DataError, "'", path_, "' line ", number_ + 1, " is longer than ", kMaxLine,
                   " bytes: not a metrics table");
    if (eof_) {
      if (pos_ == buf_.size()) return false;
      line.assign(buf_, pos_, std::string::npos);
      pos_ = buf_.size();
      break;
    }
    buf_.erase(0, pos_);
    pos_ = 0;
    char chunk[1 << 16];
    const int got = gzread(gz_, chunk, sizeof chunk);
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(gz_, &code);
      HYPERREP_THROW(DataError, "'", path_, "' is corrupt after line ", number_, ": ", msg ? msg : "gzip error");
    }
    if (got == 0) {
      int code = 0;
      gzerror(gz_, &code);
      HYPERREP_CHECK(code != Z_BUF_ERROR, DataError, "'", path_, "' ends inside its gzip stream (truncated)");
      HYPERREP_CHECK(code == Z_OK, DataError, "'", path_, "' is corrupt after line ", number_);
      eof_ = true;
    }
    buf_.append(chunk, static_cast<size_t>(std::max(got, 0)));
  }
  ++number_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

std::map<std::string, size_t> csv_columns(const std::vector<std::string>& names, const std::string& path) {
  std::map<std::string, size_t> at;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string n = trim(names[i], kCsvBlanks);
    if (n.empty() && i == 0) continue;
    HYPERREP_CHECK(!n.empty(), DataError, "'", path, "': column ", i + 1, " has no name");
    HYPERREP_CHECK(at.emplace(n, i).second, DataError, "'", path, "': column '", n, "' appears twice");
  }
  return at;
}

bool parse_csv_number(const std::string& text, double& v) {
  const std::string t = trim(text, kCsvBlanks);
  if (t.empty()) {
    v = std::nan("");
    return true;
  }
  char* end = nullptr;
  v = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size();
}

int64_t parse_csv_index(const std::string& text, const std::string& what) {
  double v = 0;
  HYPERREP_CHECK(parse_csv_number(text, v) && std::isfinite(v) && v >= 0 && v == std::floor(v) && v < 9e15, DataError, what,
                 ": '", text, "' is not a non-negative integer");
  return static_cast<int64_t>(v);
}

}  // namespace hyperrep::interop

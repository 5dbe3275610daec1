// Typed exceptions and the HYPERREP_CHECK macro. Library code throws; only main turns an
// exception into a message and an exit code (2 for usage/config errors, 1 otherwise).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hyperrep {

enum class ErrorKind { kUsage, kConfig, kIo, kData, kDistributed, kInternal };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, const char* file = nullptr, int line = 0)
      : std::runtime_error(std::move(message)), kind_(kind), file_(file ? file : ""), line_(line) {}
  ErrorKind kind() const { return kind_; }
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  // Exit code convention of the executable.
  int exit_code() const { return (kind_ == ErrorKind::kUsage || kind_ == ErrorKind::kConfig) ? 2 : 1; }

 private:
  ErrorKind kind_;
  std::string file_;
  int line_;
};

struct UsageError : Error {
  explicit UsageError(std::string m, const char* f = nullptr, int l = 0) : Error(ErrorKind::kUsage, std::move(m), f, l) {}
};
struct ConfigError : Error {
  explicit ConfigError(std::string m, const char* f = nullptr, int l = 0) : Error(ErrorKind::kConfig, std::move(m), f, l) {}
};
struct IoError : Error {
  explicit IoError(std::string m, const char* f = nullptr, int l = 0) : Error(ErrorKind::kIo, std::move(m), f, l) {}
};
struct DataError : Error {
  explicit DataError(std::string m, const char* f = nullptr, int l = 0) : Error(ErrorKind::kData, std::move(m), f, l) {}
};
struct DistributedError : Error {
  explicit DistributedError(std::string m, const char* f = nullptr, int l = 0)
      : Error(ErrorKind::kDistributed, std::move(m), f, l) {}
};
struct InternalError : Error {
  explicit InternalError(std::string m, const char* f = nullptr, int l = 0) : Error(ErrorKind::kInternal, std::move(m), f, l) {}
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

// The first `few` items joined by ", ", then ", ... (N in all)" when there are more: an error
// about a file of 20k keys stays one readable line.
inline std::string quote_few(const std::vector<std::string>& items, size_t few = 5) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < few; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > few) out += ", ... (" + std::to_string(items.size()) + " in all)";
  return out;
}

}  // namespace hyperrep

// HYPERREP_CHECK(cond, ErrorType, parts...): throws ErrorType(message) with file:line when cond fails.
#define HYPERREP_CHECK(cond, ErrorType, ...)                                                    \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      throw ::hyperrep::ErrorType(::hyperrep::detail::concat(__VA_ARGS__), __FILE__, __LINE__); \
    }                                                                                           \
  } while (0)

#define HYPERREP_THROW(ErrorType, ...) throw ::hyperrep::ErrorType(::hyperrep::detail::concat(__VA_ARGS__), __FILE__, __LINE__)

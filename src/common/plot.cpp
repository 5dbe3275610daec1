#include "common/plot.h"

#include "common/error.h"
#include "common/fs.h"
#include "common/process.h"

namespace hyperrep {

std::string gnuplot_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\'') out += "''";
    else if (u < 0x20 || u == 0x7f) out += ' ';
    else out += c;
  }
  return out + "'";
}

bool gnuplot_available(const std::string& gnuplot) { return !find_executable(gnuplot).empty(); }

int run_gnuplot(const std::string& gnuplot, const std::string& dir, const std::string& script_name, const std::string& script,
                const std::string& log) {
  HYPERREP_CHECK(is_plain_file_name(script_name), InternalError, "run_gnuplot: '", script_name, "' is not a plain file name");
  write_file_atomic(dir + "/" + script_name, script);
  return run_process({gnuplot, script_name}, log.empty() ? "/dev/null" : log, dir);
}

}  // namespace hyperrep

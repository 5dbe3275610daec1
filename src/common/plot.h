// gnuplot, driven safely: every text that reaches a script is quoted so that gnuplot expands
// nothing in it (no backquote commands, no macros, no line breaks), and gnuplot runs without a
// shell inside the directory of its files, so that no user path is ever written into a script.
#pragma once

#include <string>

namespace hyperrep {

// 'text' for a gnuplot script: single quotes (in which gnuplot substitutes nothing), a quote
// doubled, control characters (line breaks among them) replaced by spaces.
std::string gnuplot_quote(const std::string& text);

// True when the gnuplot executable (a name on PATH or a path) can be run.
bool gnuplot_available(const std::string& gnuplot = "gnuplot");

// Writes `script` to dir/script_name and runs `gnuplot script_name` with dir as its working
// directory, so the script names its data and output files relative to dir. script_name must be
// a plain file name. gnuplot's output is appended to `log` ("" discards it). Returns the exit code
// (127 when gnuplot cannot be started).
int run_gnuplot(const std::string& gnuplot, const std::string& dir, const std::string& script_name, const std::string& script,
                const std::string& log = "");

}  // namespace hyperrep

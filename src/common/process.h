// The one way hyperrep runs external programs (sweep runs, gnuplot): an argument vector spawned
// without a shell, with the parent's stdio or its output appended to a file, optionally in another
// working directory; plus shell quoting for the scripts it writes (Slurm job arrays).
#pragma once

#include <string>
#include <vector>

namespace hyperrep {

// Exit code of the child; 128 + signal when it was killed; 127 when it could not start. argv[0]
// is looked up on PATH; no shell ever sees the arguments. With a non-empty cwd the child starts
// in that directory (output_file is opened relative to the parent's directory).
int run_process(const std::vector<std::string>& argv, const std::string& output_file = "", const std::string& cwd = "");

// The directory of the running executable (/proc/self/exe).
std::string self_executable_dir();

// Full path of an executable found on PATH (or the path itself when it contains '/'); "" if none.
std::string find_executable(const std::string& name);

// 'text' quoted for bash; plain words stay as they are.
std::string shell_quote(const std::string& s);
std::string shell_join(const std::vector<std::string>& argv);

}  // namespace hyperrep

// Child processes of the sweep (runs, gnuplot): spawned with the parent's stdio or with their
// output appended to a file, waited for, exit codes returned; plus shell quoting for scripts.
#pragma once

#include <string>
#include <vector>

namespace hyperrep::sweep {

// Exit code of the child; 128 + signal when it was killed; 127 when it could not start.
int run_process(const std::vector<std::string>& argv, const std::string& output_file = "");

// The directory of the running executable (/proc/self/exe).
std::string self_executable_dir();

// Full path of an executable found on PATH (or the path itself when it contains '/'); "" if none.
std::string find_executable(const std::string& name);

// 'text' quoted for bash; plain words stay as they are.
std::string shell_quote(const std::string& s);
std::string shell_join(const std::vector<std::string>& argv);

}  // namespace hyperrep::sweep

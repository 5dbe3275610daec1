// Filesystem helpers: atomic writes (temp file, fsync, rename, fsync of the directory) for every
// output, and reads that name the file in their errors.
#pragma once

#include <cstdint>
#include <string>

namespace hyperrep {

// Writes data to path so that readers see either the old file or the whole new one.
void write_file_atomic(const std::string& path, const std::string& data);
// Appends one line (a newline is added) and flushes it to disk.
void append_line(const std::string& path, const std::string& line);
// Reads a whole file; throws IoError naming the path.
std::string read_file(const std::string& path);
// Creates a directory and its parents; throws IoError on failure.
void make_dirs(const std::string& path);
// fsyncs a directory so that renames inside it survive a crash.
void fsync_dir(const std::string& path);
bool path_exists(const std::string& path);

}  // namespace hyperrep

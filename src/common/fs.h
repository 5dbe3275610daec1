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
// Owns a file descriptor: closed when the owner goes (or on reset). -1 is "none".
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  ~FileDescriptor();
  FileDescriptor(FileDescriptor&& o) noexcept : fd_(o.release()) {}
  FileDescriptor& operator=(FileDescriptor&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_;
};

// Opens a file for reading only if it is a regular file (after symbolic links), without ever
// blocking on a FIFO; throws IoError naming the path and what it is instead (a directory, a
// FIFO, a device). *size receives its size in bytes.
FileDescriptor open_regular_file(const std::string& path, int64_t* size = nullptr);
// Reads a whole regular file (see open_regular_file); with max_bytes >= 0 a larger file is
// refused before anything is read. Throws IoError naming the path.
std::string read_file(const std::string& path, int64_t max_bytes = -1);
// True for one file name that stays in its directory: not empty, ".", ".." or longer than 255
// bytes, without '/' or control characters. For names that come from files (manifests, DONE).
bool is_plain_file_name(const std::string& name);
// Creates a directory and its parents; throws IoError on failure.
void make_dirs(const std::string& path);
// fsyncs a directory so that renames inside it survive a crash.
void fsync_dir(const std::string& path);
bool path_exists(const std::string& path);

}  // namespace hyperrep

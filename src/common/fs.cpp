#include "common/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/error.h"

namespace hyperrep {
namespace {

void write_all(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      HYPERREP_THROW(IoError, "cannot write '", path, "': ", std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

FileDescriptor::~FileDescriptor() { reset(); }

void FileDescriptor::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

void fsync_dir(const std::string& path) {
  const FileDescriptor fd(::open(path.empty() ? "." : path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd) ::fsync(fd.get());
}

void write_file_atomic(const std::string& path, const std::string& data) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.has_parent_path()) make_dirs(target.parent_path().string());
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    const FileDescriptor fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) HYPERREP_THROW(IoError, "cannot create '", tmp, "': ", std::strerror(errno));
    try {
      write_all(fd.get(), data.data(), data.size(), tmp);
      if (::fsync(fd.get()) != 0) HYPERREP_THROW(IoError, "cannot fsync '", tmp, "': ", std::strerror(errno));
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    HYPERREP_THROW(IoError, "cannot rename '", tmp, "' to '", path, "': ", std::strerror(err));
  }
  fsync_dir(target.has_parent_path() ? target.parent_path().string() : ".");
}

void append_line(const std::string& path, const std::string& line) {
  const FileDescriptor fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd) HYPERREP_THROW(IoError, "cannot open '", path, "' for appending: ", std::strerror(errno));
  const std::string text = line + "\n";
  write_all(fd.get(), text.data(), text.size(), path);
  ::fdatasync(fd.get());
}

bool is_plain_file_name(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 255) return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

static std::string file_kind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

FileDescriptor open_regular_file(const std::string& path, int64_t* size) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) HYPERREP_THROW(IoError, "cannot open '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) HYPERREP_THROW(IoError, "cannot stat '", path, "': ", std::strerror(errno));
  HYPERREP_CHECK(S_ISREG(st.st_mode), IoError, "'", path, "' is ", file_kind(st.st_mode), ", not a regular file");
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  if (size) *size = static_cast<int64_t>(st.st_size);
  return fd;
}

std::string read_file(const std::string& path, int64_t max_bytes) {
  int64_t size = 0;
  FileDescriptor fd = open_regular_file(path, &size);
  HYPERREP_CHECK(max_bytes < 0 || size <= max_bytes, IoError, "'", path, "' has ", size, " bytes, more than the ", max_bytes,
                 " this file may have");
  std::string out(static_cast<size_t>(size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t r = ::read(fd.get(), out.data() + got, out.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) HYPERREP_THROW(IoError, "cannot read '", path, "': ", std::strerror(errno));
    if (r == 0) break;  // the file shrank meanwhile
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return out;
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) HYPERREP_THROW(IoError, "cannot create directory '", path, "': ", ec.message());
}

bool path_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

}  // namespace hyperrep

#pragma once
// Writes a file through `path.tmp` and renames it into place on commit(), so
// a failed or interrupted write never leaves a truncated file under `path`.
#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>

#include "gpu/base/result.hpp"

namespace kairos {

class atomic_file_writer {
 public:
  static result<atomic_file_writer> create(const std::string& path);
  atomic_file_writer(atomic_file_writer&&) = default;
  atomic_file_writer& operator=(atomic_file_writer&&) = default;
  ~atomic_file_writer();  // removes the temporary file unless committed

  // Appends n bytes; false on a write error (errno says why).
  bool write(const void* p, std::size_t n);
  // Discards the temporary file; returns the error "<path>: <what>".
  status fail(const std::string& what);
  // The same, for a write error, with errno's text.
  status fail_write();
  // Flushes, closes and renames the temporary file to the final path.
  status commit();

 private:
  struct file_closer {
    void operator()(std::FILE* f) const;
  };
  atomic_file_writer() = default;
  std::string path_, tmp_;
  std::unique_ptr<std::FILE, file_closer> f_;
};

}  // namespace kairos

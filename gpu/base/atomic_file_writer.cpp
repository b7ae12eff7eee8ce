#include "gpu/base/atomic_file_writer.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace kairos {

void atomic_file_writer::file_closer::operator()(std::FILE* f) const {
  if (f) std::fclose(f);
}

result<atomic_file_writer> atomic_file_writer::create(const std::string& path) {
  atomic_file_writer w;
  w.path_ = path;
  w.tmp_ = path + ".tmp";
  w.f_.reset(std::fopen(w.tmp_.c_str(), "wb"));
  if (!w.f_) return make_error(w.tmp_ + ": cannot create: " + std::strerror(errno));
  std::setvbuf(w.f_.get(), nullptr, _IOFBF, 1 << 20);
  return w;
}

atomic_file_writer::~atomic_file_writer() {
  if (f_) (void)fail("abandoned");
}

bool atomic_file_writer::write(const void* p, std::size_t n) {
  return n == 0 || std::fwrite(p, 1, n, f_.get()) == n;
}

status atomic_file_writer::fail(const std::string& what) {
  f_.reset();
  std::error_code ec;
  std::filesystem::remove(tmp_, ec);
  return make_error(path_ + ": " + what);
}

status atomic_file_writer::fail_write() { return fail(std::string("write error: ") + std::strerror(errno)); }

status atomic_file_writer::commit() {
  if (std::fflush(f_.get()) != 0) return fail_write();
  if (std::fclose(f_.release()) != 0) return fail(std::string("close error: ") + std::strerror(errno));
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) return fail("cannot rename " + tmp_ + ": " + ec.message());
  return {};
}

}  // namespace kairos

#include "http/open_files.hpp"

#include <sys/resource.h>

#include <limits>

namespace kairos::http {

namespace {
int64_t as_i64(rlim_t v) {
  return v == RLIM_INFINITY ? std::numeric_limits<int64_t>::max() : int64_t(v);
}
}  // namespace

int64_t open_files_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  return as_i64(rl.rlim_cur);
}

int64_t raise_open_files_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return as_i64(rl.rlim_cur);
}

}  // namespace kairos::http

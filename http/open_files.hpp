#pragma once
// The process's open-file limit: every connection holds one descriptor, so a
// server for 1,000 WebSocket streams needs RLIMIT_NOFILE well above the usual
// soft default of 1,024.
#include <cstdint>

namespace kairos::http {

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now
// in force (unchanged when raising fails).
int64_t raise_open_files_limit();

// The soft RLIMIT_NOFILE (-1 when it cannot be read; RLIM_INFINITY as INT64_MAX).
int64_t open_files_limit();

}  // namespace kairos::http

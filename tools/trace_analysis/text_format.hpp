#pragma once
// printf-style formatting into a std::string, for the trace tools' text reports.
#include <cstdio>
#include <string>

namespace kairos::trace_analysis {

template <class... Args>
std::string fmt(const char* f, Args... args) {
  char b[1024];
  std::snprintf(b, sizeof b, f, args...);
  return b;
}

}  // namespace kairos::trace_analysis

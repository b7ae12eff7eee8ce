#pragma once
// CPU time of another process (the server under test), from /proc/PID/stat:
// what `kairos bench --server-pid` divides by the tokens it received.
#include <string>

namespace kairos::bench {

struct cpu_times {
  double user_s = 0, system_s = 0;
  double total() const { return user_s + system_s; }
};

// Parses the text of /proc/PID/stat (utime and stime are fields 14 and 15,
// counted after the command name, which may itself hold spaces and ')').
// `ticks_per_s` is sysconf(_SC_CLK_TCK). False with `err` on malformed text.
bool parse_proc_stat(const std::string& text, double ticks_per_s, cpu_times& out, std::string& err);

// Reads /proc/PID/stat; false with `err` naming the pid when it cannot.
bool read_cpu_times(int pid, cpu_times& out, std::string& err);

}  // namespace kairos::bench

#include "tools/bench/proc_stat.hpp"

#include <fstream>
#include <sstream>
#include <unistd.h>
#include <vector>

namespace kairos::bench {

bool parse_proc_stat(const std::string& text, double ticks_per_s, cpu_times& out, std::string& err) {
  // "PID (COMM) STATE PPID ...": COMM may contain anything, so fields are
  // counted from the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) {
    err = "no command name in /proc stat text";
    return false;
  }
  std::istringstream in(text.substr(close + 1));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  std::string x;
  while (in >> x) f.push_back(x);
  if (f.size() < 13) {
    err = "/proc stat text has " + std::to_string(f.size() + 2) + " fields, expected at least 15";
    return false;
  }
  try {
    out.user_s = double(std::stoull(f[11])) / ticks_per_s;   // field 14: utime
    out.system_s = double(std::stoull(f[12])) / ticks_per_s; // field 15: stime
  } catch (const std::exception&) {
    err = "utime/stime in /proc stat text are not numbers: '" + f[11] + "', '" + f[12] + "'";
    return false;
  }
  return true;
}

bool read_cpu_times(int pid, cpu_times& out, std::string& err) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::ifstream f(path);
  if (!f) {
    err = "cannot read " + path + " (is --server-pid a running process on this machine?)";
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  if (!parse_proc_stat(ss.str(), double(sysconf(_SC_CLK_TCK)), out, err)) {
    err = path + ": " + err;
    return false;
  }
  return true;
}

}  // namespace kairos::bench

#include "scheduler/trace_reader.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace kairos::sched {

namespace {

// "2023-11-16 18:15:46.6805900" -> seconds since midnight of that day plus
// days since an arbitrary epoch (only differences matter).
bool parse_timestamp(const std::string& s, double& out) {
  int y, mo, d, h, mi;
  double sec;
  if (std::sscanf(s.c_str(), "%d-%d-%d %d:%d:%lf", &y, &mo, &d, &h, &mi, &sec) == 6) {
    // days from civil (Howard Hinnant's algorithm)
    y -= mo <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = unsigned(y - era * 400);
    const unsigned doy = unsigned((153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    const double days = double(era) * 146097.0 + double(doe) - 719468.0;
    out = days * 86400.0 + h * 3600.0 + mi * 60.0 + sec;
    return true;
  }
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);  // plain seconds
  return end && end != s.c_str();
}

trace_read_result parse_csv(std::istringstream& in) {
  trace_read_result r;
  r.format = "azure-csv";
  std::string line;
  std::getline(in, line);  // header
  size_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto c1 = line.find(','), c2 = line.find(',', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) {
      r.error = "line " + std::to_string(lineno) + ": expected 3 columns";
      return r;
    }
    trace_row row;
    if (!parse_timestamp(line.substr(0, c1), row.arrival_s)) {
      r.error = "line " + std::to_string(lineno) + ": bad timestamp";
      return r;
    }
    row.input_tokens = std::atoi(line.c_str() + c1 + 1);
    row.output_tokens = std::atoi(line.c_str() + c2 + 1);
    r.rows.push_back(row);
  }
  return r;
}

trace_read_result parse_jsonl(std::istringstream& in) {
  trace_read_result r;
  r.format = "mooncake-jsonl";
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("timestamp") || !j.contains("input_length") || !j.contains("output_length")) {
      r.error = "line " + std::to_string(lineno) + ": not a Mooncake record";
      return r;
    }
    trace_row row;
    row.arrival_s = j["timestamp"].get<double>() / 1000.0;
    row.input_tokens = j["input_length"].get<int32_t>();
    row.output_tokens = j["output_length"].get<int32_t>();
    r.rows.push_back(row);
  }
  return r;
}

}  // namespace

trace_read_result parse_trace(const std::string& text) {
  std::istringstream in(text);
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') return parse_jsonl(in);
  return parse_csv(in);
}

trace_read_result read_trace(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    trace_read_result r;
    r.error = "cannot open " + path;
    return r;
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_trace(ss.str());
}

}  // namespace kairos::sched

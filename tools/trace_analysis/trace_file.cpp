#include "tools/trace_analysis/trace_file.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>

namespace kairos::trace_analysis {

namespace {

using json = nlohmann::json;

constexpr std::array<const char*, 7> kind_names{"receive", "handle_begin", "handle_end", "send",
                                                "span_begin", "span_end", "member"};
constexpr std::array<const char*, 5> type_names{"device", "prefill_scheduler", "decode_scheduler", "request", "runtime"};
constexpr std::array<const char*, 24> what_names{
    "message",   "enqueue",     "prefill_batch", "decode_step",   "kv_transfer", "queue_wait", "token",
    "cancel",    "fail",        "prefill_start", "first_token",   "decoding",    "admit",      "arrive",
    "load_report", "register_peer", "free_kv",   "batch_done",    "step_done",   "device_down", "deliver",
    "fault",     "down",        "other"};

template <size_t N>
int index_of(const std::array<const char*, N>& names, std::string_view s) {
  for (size_t i = 0; i < N; ++i)
    if (s == names[i]) return int(i);
  return -1;
}

struct line_error {
  std::string message;
};

template <class T>
T field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) throw line_error{std::string("missing \"") + key + "\""};
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw line_error{std::string("\"") + key + "\" has the wrong type"};
  }
}

actor_type parse_type(const std::string& s) {
  const int i = index_of(type_names, s);
  if (i < 0) throw line_error{"unknown actor_kind \"" + s + "\""};
  return actor_type(i);
}

}  // namespace

const char* to_string(actor_type t) { return type_names[size_t(t)]; }
const char* to_string(what w) { return what_names[size_t(w)]; }

std::string trace_file::actor_name(uint64_t id) const {
  auto it = actors.find(id);
  return it != actors.end() && !it->second.name.empty() ? it->second.name : "actor " + std::to_string(id);
}

actor_type trace_file::type_of(uint64_t id) const {
  auto it = actors.find(id);
  return it != actors.end() ? it->second.type : actor_type::runtime;
}

result<trace_file> parse_trace(std::istream& in, const std::string& source) {
  trace_file f;
  f.source = source;
  std::string line;
  size_t n = 0;
  bool header = false;
  try {
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      json j;
      try {
        j = json::parse(line);
      } catch (const json::parse_error& e) {
        throw line_error{std::string("not JSON: ") + e.what()};
      }
      if (!j.is_object()) throw line_error{"expected a JSON object"};
      // Lines without a type are events (the format before headers existed).
      const std::string type = j.value("type", std::string("event"));
      if (type == "event") {
        trace_event e;
        e.t_ns = field<int64_t>(j, "t_ns");
        e.actor = field<uint64_t>(j, "actor");
        e.request = j.value("request", int64_t(-1));
        e.batch = j.value("batch", int64_t(-1));
        e.msg = j.value("msg", int64_t(-1));
        e.a = j.value("a", int32_t(0));
        e.thread = j.value("thread", uint32_t(0));
        const auto k = field<std::string>(j, "kind");
        const int ki = index_of(kind_names, k);
        if (ki < 0) throw line_error{"unknown kind \"" + k + "\""};
        e.kind = ev_kind(ki);
        const int wi = index_of(what_names, field<std::string>(j, "what"));
        e.w = wi < 0 ? what::other : what(wi);
        e.type = parse_type(field<std::string>(j, "actor_kind"));
        f.events.push_back(e);
      } else if (type == "header") {
        if (j.value("format", std::string()) != "kairos-trace")
          throw line_error{"the header's format is not \"kairos-trace\""};
        if (j.value("version", 0) != 1)
          throw line_error{"unsupported version " + std::to_string(j.value("version", 0)) + " (this reader knows 1)"};
        f.virtual_clock = j.value("clock", std::string()) == "virtual";
        f.dropped = j.value("dropped", uint64_t(0));
        header = true;
      } else if (type == "actor") {
        actor_info a;
        a.id = field<uint64_t>(j, "actor");
        a.type = parse_type(field<std::string>(j, "actor_kind"));
        a.name = j.value("name", std::string());
        a.group = j.value("group", std::string());
        f.actors[a.id] = a;
      } else if (type == "request") {
        request_info r;
        r.id = field<int64_t>(j, "request");
        r.actor = j.value("actor", uint64_t(0));
        r.cls = j.value("class", std::string("standard"));
        r.arrival_ns = field<int64_t>(j, "arrival_ns");
        r.input_tokens = j.value("input_tokens", 0);
        r.max_tokens = j.value("max_tokens", 0);
        r.ttft_slo_s = field<double>(j, "ttft_slo_ms") / 1e3;
        r.tpot_slo_s = field<double>(j, "tpot_slo_ms") / 1e3;
        r.end_ns = j.value("end_ns", int64_t(-1));
        r.status = j.value("status", std::string());
        r.output_tokens = j.value("output_tokens", 0);
        f.requests[r.id] = r;
      }  // other types: from a newer writer; skipped
    }
  } catch (const line_error& e) {
    return make_error(source + ":" + std::to_string(n) + ": " + e.message);
  }
  if (!header && f.events.empty()) return make_error(source + ": not a kairos trace (no header line and no events)");
  std::stable_sort(f.events.begin(), f.events.end(), [](const trace_event& x, const trace_event& y) { return x.t_ns < y.t_ns; });
  return f;
}

result<trace_file> read_trace_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error("cannot open trace file " + path);
  return parse_trace(in, path);
}

}  // namespace kairos::trace_analysis

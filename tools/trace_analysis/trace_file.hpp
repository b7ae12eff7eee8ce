#pragma once
// A trace file (docs/tracing.md) read into memory: the header, who is who
// (actors, requests with their SLOs and outcomes) and the events in time
// order. Plain C++, no CAF: the analysis reads what the runtime wrote.
#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "gpu/base/result.hpp"

namespace kairos::trace_analysis {

enum class ev_kind : uint8_t { receive, handle_begin, handle_end, send, span_begin, span_end, member };

enum class actor_type : uint8_t { device, prefill_scheduler, decode_scheduler, request, runtime };
inline constexpr int n_actor_types = 5;
const char* to_string(actor_type t);

// The message or span an event is about; `other` for names this reader does
// not know (a newer writer), which the analysis ignores.
enum class what : uint8_t {
  message, enqueue, prefill_batch, decode_step, kv_transfer, queue_wait, token, cancel, fail, prefill_start,
  first_token, decoding, admit, arrive, load_report, register_peer, free_kv, batch_done, step_done, device_down,
  deliver, fault, down, other
};
const char* to_string(what w);

struct trace_event {
  int64_t t_ns = 0;
  uint64_t actor = 0;
  int64_t request = -1;
  int64_t batch = -1;
  int64_t msg = -1;  // pairs a send with its receive; -1: unpaired
  int32_t a = 0;
  uint32_t thread = 0;
  ev_kind kind = ev_kind::receive;
  what w = what::message;
  actor_type type = actor_type::runtime;
};

struct actor_info {
  uint64_t id = 0;
  actor_type type = actor_type::runtime;
  std::string name;
  std::string group;  // devices and schedulers: "prefill" | "decode"
};

struct request_info {
  int64_t id = -1;
  uint64_t actor = 0;
  std::string cls;
  int64_t arrival_ns = 0;
  int32_t input_tokens = 0, max_tokens = 0;
  double ttft_slo_s = 0, tpot_slo_s = 0;
  int64_t end_ns = -1;  // -1: had not ended when the trace was written
  std::string status;   // finished | cancelled | failed | "" (not ended)
  int32_t output_tokens = 0;
};

struct trace_file {
  std::string source;
  bool virtual_clock = false;
  uint64_t dropped = 0;  // events the rings overwrote
  std::map<uint64_t, actor_info> actors;
  std::map<int64_t, request_info> requests;
  std::vector<trace_event> events;  // by time

  int64_t t_begin() const { return events.empty() ? 0 : events.front().t_ns; }
  int64_t t_end() const { return events.empty() ? 0 : events.back().t_ns; }
  // "sim:0", "request 17", or "actor 12" when it was not named.
  std::string actor_name(uint64_t id) const;
  actor_type type_of(uint64_t id) const;
};

// The error names the line and what was wrong with it.
result<trace_file> parse_trace(std::istream& in, const std::string& source);
result<trace_file> read_trace_file(const std::string& path);

}  // namespace kairos::trace_analysis

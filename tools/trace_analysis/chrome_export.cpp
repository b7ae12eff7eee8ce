#include "tools/trace_analysis/chrome_export.hpp"

#include <unordered_map>

namespace kairos::trace_analysis {

namespace {

using json = nlohmann::json;

constexpr int pid_actors = 1, pid_devices = 2, pid_requests = 3;

double us(int64_t ns) { return double(ns) / 1e3; }

json meta(const char* what, int pid, uint64_t tid, const std::string& value) {
  json j = {{"ph", "M"}, {"name", what}, {"pid", pid}, {"tid", tid}, {"ts", 0}};
  j["args"] = what == std::string("thread_sort_index") || what == std::string("process_sort_index")
                  ? json{{"sort_index", std::stoll(value)}}
                  : json{{"name", value}};
  return j;
}

}  // namespace

json export_chrome(const trace_model& m) {
  const trace_file& f = *m.file;
  json ev = json::array();
  ev.push_back(meta("process_name", pid_actors, 0, "actors"));
  ev.push_back(meta("process_name", pid_devices, 0, "device work"));
  ev.push_back(meta("process_name", pid_requests, 0, "requests"));
  // One track per actor, named, sorted by type then id.
  std::unordered_map<uint64_t, actor_type> seen;
  for (const auto& e : f.events) seen.emplace(e.actor, e.type);
  for (const auto& [id, type] : seen) {
    ev.push_back(meta("thread_name", pid_actors, id, f.actor_name(id) + " (" + to_string(type) + ")"));
    ev.push_back(meta("thread_sort_index", pid_actors, id, std::to_string(int64_t(type) * 1000000 + int64_t(id))));
  }
  // Handled messages as complete slices; sends and receives as flow ends.
  std::unordered_map<uint64_t, const trace_event*> open;  // actor -> its handle_begin
  for (const auto& e : f.events) {
    if (e.kind == ev_kind::handle_begin) {
      open[e.actor] = &e;
    } else if (e.kind == ev_kind::handle_end) {
      auto it = open.find(e.actor);
      if (it == open.end() || !it->second) continue;
      const auto& b = *it->second;
      json args = {{"request", b.request}, {"batch", b.batch}};
      ev.push_back({{"ph", "X"}, {"name", to_string(b.w)}, {"cat", to_string(b.type)}, {"pid", pid_actors}, {"tid", b.actor},
                    {"ts", us(b.t_ns)}, {"dur", us(e.t_ns - b.t_ns)}, {"args", std::move(args)}});
      it->second = nullptr;
    } else if ((e.kind == ev_kind::send || e.kind == ev_kind::receive) && e.msg >= 0) {
      json j = {{"ph", e.kind == ev_kind::send ? "s" : "f"}, {"name", to_string(e.w)}, {"cat", "message"}, {"id", e.msg},
                {"pid", pid_actors}, {"tid", e.actor}, {"ts", us(e.t_ns)}};
      if (e.kind == ev_kind::receive) j["bp"] = "e";  // binds to the slice the receive opens
      ev.push_back(std::move(j));
    }
  }
  // Device work: one track per device.
  for (const auto& [dev, idx] : m.work_by_device) {
    ev.push_back(meta("thread_name", pid_devices, dev, f.actor_name(dev)));
    for (size_t i : idx) {
      const auto& w = m.work[i];
      if (w.end_ns < 0) continue;
      json members = json::array();
      for (const auto& mb : w.members) members.push_back({mb.request, mb.a});
      ev.push_back({{"ph", "X"},
                    {"name", std::string(w.prefill ? "prefill batch " : "decode step ") + std::to_string(w.id)},
                    {"cat", w.prefill ? "prefill" : "decode"},
                    {"pid", pid_devices},
                    {"tid", dev},
                    {"ts", us(w.start_ns)},
                    {"dur", us(w.end_ns - w.start_ns)},
                    {"args", {{"sequences", w.n_run}, {"tokens", w.tokens}, {"members [request, a]", std::move(members)}}}});
    }
  }
  // A span per request (async, id = request id), its phases nested inside.
  auto span = [&](int64_t id, const std::string& name, int64_t b, int64_t e, json args = json::object()) {
    if (b < 0 || e < b) return;
    ev.push_back({{"ph", "b"}, {"name", name}, {"cat", "request"}, {"id", id}, {"pid", pid_requests}, {"tid", 0},
                  {"ts", us(b)}, {"args", std::move(args)}});
    ev.push_back({{"ph", "e"}, {"name", name}, {"cat", "request"}, {"id", id}, {"pid", pid_requests}, {"tid", 0}, {"ts", us(e)}});
  };
  for (const auto& [id, r] : m.requests) {
    const int64_t end = std::max(r.end_ns, r.last_token_ns());
    json args = {{"request", id}};
    if (r.info) {
      args["class"] = r.info->cls;
      args["input_tokens"] = r.info->input_tokens;
      args["status"] = r.info->status;
      args["output_tokens"] = r.info->output_tokens;
    }
    span(id, "request " + std::to_string(id), r.arrival_ns, end, std::move(args));
    span(id, "queue wait", r.queue_begin_ns, r.queue_end_ns);
    if (r.prefill_work >= 0) {
      const auto& w = m.work[size_t(r.prefill_work)];
      span(id, "prefill on " + f.actor_name(w.device), w.start_ns, w.end_ns);
    }
    span(id, "kv transfer", r.kv_begin_ns, r.kv_end_ns);
    span(id, "decode", r.kv_end_ns, r.last_token_ns() >= r.kv_end_ns ? r.last_token_ns() : -1);
  }
  return json{{"traceEvents", std::move(ev)}, {"displayTimeUnit", "ms"}};
}

}  // namespace kairos::trace_analysis

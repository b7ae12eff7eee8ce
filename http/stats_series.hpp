#pragma once
// The rolling time series behind the dashboard (GET /v1/stats): the server
// samples the runtime's stats and the front's SLO counts every second; each
// point holds the instantaneous gauges (queues, KV use) and the rates over the
// interval since the previous sample (attainment, batch sizes, utilisation).
// No networking and no clock reads: the caller passes the time.
#include <cstddef>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "actors/runtime.hpp"
#include "http/api.hpp"

namespace kairos::http {

class stats_series {
 public:
  explicit stats_series(size_t capacity = 300);

  // Records a point at `t` (seconds, any monotonic origin). The first call
  // only sets the baseline for the rates.
  void sample(double t, const runtime_stats& st, const slo_totals& slo);

  // {"interval_s", "window_s", "t_now", "totals": {...}, "groups": [...],
  //  "devices": [{name, group, alive, kv_used, kv_total}],
  //  "series": {"t": [...], "<field>": [...], "kv_usage": {"<device>": [...]}}}
  // Columns, oldest first; a rate with nothing to measure in its interval
  // (no request ended, no batch ran) is null. `st`/`slo`: the current values.
  nlohmann::json to_json(const runtime_stats& st, const slo_totals& slo) const;

  size_t size() const;

 private:
  struct point {
    double t = 0;
    std::optional<double> ttft_attainment, tpot_attainment;  // [0, 1] over the interval
    int64_t prefill_waiting = 0, prefill_running = 0, decode_waiting = 0, decode_running = 0;
    std::optional<double> prefill_batch, decode_batch;  // mean requests per batch in the interval
    std::optional<double> prefill_busy, decode_busy;     // the group's alive devices' busy fraction
    double tokens_per_s = 0;
    std::vector<double> kv_usage;        // per device, in the order of `names_`
    std::vector<double> batches_per_s;   // per device
    std::vector<double> busy;            // per device: busy fraction of the interval
  };
  struct baseline {
    double t = 0;
    runtime_stats st;
    slo_totals slo;
  };

  size_t capacity_;
  mutable std::mutex mu_;
  std::deque<point> points_;
  std::optional<baseline> last_;
  std::vector<std::string> names_;  // device names of the points (they do not change while serving)
};

}  // namespace kairos::http

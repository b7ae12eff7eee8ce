#include "scheduler/table_cost_model.hpp"

#include <algorithm>

namespace kairos::sched {

namespace {

// Index i of the segment [axis[i], axis[i+1]] used for x, and its weight.
std::pair<size_t, double> locate(const std::vector<double>& axis, double x) {
  auto it = std::upper_bound(axis.begin(), axis.end(), x);
  size_t i = it == axis.begin() ? 0 : size_t(it - axis.begin()) - 1;
  i = std::min(i, axis.size() - 2);
  const double w = (x - axis[i]) / (axis[i + 1] - axis[i]);
  return {i, w};
}

bool ascending(const std::vector<double>& a) {
  if (a.size() < 2) return false;
  for (size_t i = 1; i < a.size(); ++i)
    if (!(a[i] > a[i - 1])) return false;
  return true;
}

}  // namespace

cost_table tabulate(const cost_model& model, std::vector<double> prefill_tokens, std::vector<double> decode_batch,
                    std::vector<double> decode_context) {
  cost_table t;
  t.prefill_tokens = std::move(prefill_tokens);
  t.decode_batch = std::move(decode_batch);
  t.decode_context = std::move(decode_context);
  for (double n : t.prefill_tokens) t.prefill_s.push_back(model.prefill_time_one(int32_t(n)));
  for (double b : t.decode_batch)
    for (double c : t.decode_context) t.decode_s.push_back(model.decode_step_time(int32_t(b), int64_t(c)));
  const double t1 = model.transfer_time(1), t2 = model.transfer_time(1001);
  t.kv_s_per_token = (t2 - t1) / 1000.0;
  t.kv_latency_s = t1 - t.kv_s_per_token;
  return t;
}

table_cost_model::table_cost_model(cost_table t) : t_(std::move(t)) {
  valid_ = ascending(t_.prefill_tokens) && t_.prefill_s.size() == t_.prefill_tokens.size() &&
           ascending(t_.decode_batch) && ascending(t_.decode_context) &&
           t_.decode_s.size() == t_.decode_batch.size() * t_.decode_context.size();
}

double table_cost_model::prefill_time(std::span<const prefill_piece> batch) const {
  if (batch.empty() || !valid_) return 0.0;
  double n = 0;
  for (const auto& p : batch) n += p.new_tokens;  // the table is indexed by the batch's total new tokens
  auto [i, w] = locate(t_.prefill_tokens, n);
  return std::max(0.0, t_.prefill_s[i] * (1 - w) + t_.prefill_s[i + 1] * w);
}

double table_cost_model::decode_step_time(int32_t batch, int64_t total_context) const {
  if (batch <= 0 || !valid_) return 0.0;
  auto [i, wb] = locate(t_.decode_batch, batch);
  auto [j, wc] = locate(t_.decode_context, double(total_context));
  const size_t nc = t_.decode_context.size();
  auto at = [&](size_t a, size_t b) { return t_.decode_s[a * nc + b]; };
  const double lo = at(i, j) * (1 - wc) + at(i, j + 1) * wc;
  const double hi = at(i + 1, j) * (1 - wc) + at(i + 1, j + 1) * wc;
  return std::max(0.0, lo * (1 - wb) + hi * wb);
}

double table_cost_model::transfer_time(int64_t tokens) const {
  return tokens <= 0 ? 0.0 : t_.kv_latency_s + t_.kv_s_per_token * double(tokens);
}

}  // namespace kairos::sched

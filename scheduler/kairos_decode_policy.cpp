#include "scheduler/kairos_decode_policy.hpp"

#include <algorithm>
#include <limits>

namespace kairos::sched {

namespace {
constexpr double inf = std::numeric_limits<double>::infinity();

// Budget of one step for a sequence with this slack: the slack itself while
// the next token can still be on time, else its TPOT (do not lose more ground).
double step_budget(double slack, double floor_s, double tpot) { return slack >= floor_s ? slack : tpot; }
}  // namespace

void kairos_decode_policy::select(std::span<const decode_seq> running, std::span<const decode_seq> waiting,
                                  time_s now, const cost_model& cost, const decode_limits& limits,
                                  decode_decision& out) {
  out.clear();
  const int32_t bs = limits.block_size;
  const size_t n = running.size();
  slack_.resize(n);
  budget_.resize(n);
  gone_.assign(n, 0);
  int64_t used = 0;
  for (size_t i = 0; i < n; ++i) {
    slack_[i] = running[i].slack(now);
    used += kv_slots(running[i].context_tokens + 1, bs);
  }

  // 1. KV pressure: evict the most slack first.
  if (used > limits.kv_capacity_tokens) {
    order_.resize(n);
    for (size_t i = 0; i < n; ++i) order_[i] = int32_t(i);
    std::sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) {
      return slack_[size_t(a)] != slack_[size_t(b)] ? slack_[size_t(a)] > slack_[size_t(b)] : a > b;
    });
    for (int32_t i : order_) {
      if (used <= limits.kv_capacity_tokens) break;
      used -= kv_slots(running[size_t(i)].context_tokens + 1, bs);
      gone_[size_t(i)] = 1;
      out.preempt.push_back(int32_t(i));
    }
  }

  // 2. Everyone, if that fits the tightest budget.
  int32_t n_run = 0;
  int64_t ctx_run = 0;
  double tightest = inf;
  const double floor_one = cost.decode_step_time(1, 0);
  for (size_t i = 0; i < n; ++i) {
    if (gone_[i]) continue;
    budget_[i] = step_budget(slack_[i], floor_one, running[i].tpot_s);
    ++n_run;
    ctx_run += running[i].context_tokens;
    tightest = std::min(tightest, budget_[i]);
  }
  double t_all = cost.decode_step_time(n_run, ctx_run);
  if (opt_.sit_out && n_run > 0 && t_all > tightest) {
    // 3. Must-run set first, then pack the gap with short contexts.
    int32_t m_run = 0;
    int64_t m_ctx = 0;
    double m_budget = inf;
    optional_.clear();
    for (size_t i = 0; i < n; ++i) {
      if (gone_[i]) continue;
      if (slack_[i] >= opt_.sit_out_factor * t_all) {
        optional_.push_back(int32_t(i));
      } else {
        ++m_run;
        m_ctx += running[i].context_tokens;
        m_budget = std::min(m_budget, budget_[i]);
      }
    }
    if (m_run > 0 && !optional_.empty() && cost.decode_step_time(m_run, m_ctx) <= m_budget) {
      std::sort(optional_.begin(), optional_.end(), [&](int32_t a, int32_t b) {
        const auto ca = running[size_t(a)].context_tokens, cb = running[size_t(b)].context_tokens;
        return ca != cb ? ca < cb : a < b;
      });
      for (int32_t i : optional_) {
        const auto& s = running[size_t(i)];
        if (cost.decode_step_time(m_run + 1, m_ctx + s.context_tokens) > m_budget) {
          gone_[size_t(i)] = 2;  // sits out: keeps its KV, does not grow
          used -= kv_slots(s.context_tokens + 1, bs) - kv_slots(s.context_tokens, bs);
          continue;
        }
        ++m_run;
        m_ctx += s.context_tokens;
      }
      n_run = m_run;
      ctx_run = m_ctx;
      tightest = m_budget;
      t_all = cost.decode_step_time(n_run, ctx_run);
    }
  }
  for (size_t i = 0; i < n; ++i)
    if (!gone_[i]) out.run.push_back(int32_t(i));

  // 4. Admission, least slack first.
  int32_t n_resident = 0;
  for (size_t i = 0; i < n; ++i) n_resident += gone_[i] != 1;
  if (!out.preempt.empty() || waiting.empty() || n_resident >= opt_.max_seqs) {
    last_step_ = t_all;
    last_budget_ = tightest;
    return;
  }
  const size_t k = std::min(waiting.size(), size_t(std::min(opt_.max_admit_per_step, opt_.max_seqs - n_resident)));
  order_.resize(waiting.size());
  for (size_t w = 0; w < waiting.size(); ++w) order_[w] = int32_t(w);
  auto by_slack = [&](int32_t a, int32_t b) {
    const double sa = waiting[size_t(a)].slack(now), sb = waiting[size_t(b)].slack(now);
    return sa != sb ? sa < sb : a < b;
  };
  if (k < waiting.size())
    std::partial_sort(order_.begin(), order_.begin() + ptrdiff_t(k), order_.end(), by_slack);
  else
    std::sort(order_.begin(), order_.end(), by_slack);
  const auto kv_limit = int64_t(double(limits.kv_capacity_tokens) * (1.0 - limits.watermark));
  double reload = 0;
  for (size_t j = 0; j < k; ++j) {
    const auto& w = waiting[size_t(order_[j])];
    const int64_t need = kv_slots(w.context_tokens + 1, bs);
    if (used + need > (n_run == 0 ? limits.kv_capacity_tokens : kv_limit)) break;
    const double b = step_budget(w.slack(now), floor_one, w.tpot_s);
    const double extra = w.swapped ? cost.transfer_time(w.context_tokens) : 0.0;
    const double t_new = cost.decode_step_time(n_run + 1, ctx_run + w.context_tokens) + reload + extra;
    // Up to cb's cap, admit as cb would (never less throughput than cb);
    // past it, only while the step stays within the tightest budget.
    const bool within_cb_cap = n_resident + int32_t(out.admit.size()) < limits.max_num_seqs;
    if (n_run > 0 && !within_cb_cap && t_new > opt_.admit_margin * std::min(tightest, b)) break;
    used += need;
    ++n_run;
    ctx_run += w.context_tokens;
    reload += extra;
    tightest = std::min(tightest, b);
    t_all = t_new;
    out.admit.push_back(order_[j]);
  }
  last_step_ = t_all;
  last_budget_ = tightest;
}

}  // namespace kairos::sched

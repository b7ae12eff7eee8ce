#include "scheduler/kairos_prefill_policy.hpp"

#include <algorithm>

namespace kairos::sched {

// Deadlines are arrival + a per-class SLO, so the candidates (in arrival
// order) are a few interleaved ascending runs. Deal them into at most
// `max_runs` ascending piles and merge those: O(n x piles) instead of a full
// sort; falls back to std::sort when the order is less regular.
void kairos_prefill_policy::sort_by_deadline() {
  constexpr size_t max_runs = 6;
  auto before = [](const cand& a, const cand& b) {
    return a.deadline != b.deadline ? a.deadline < b.deadline : a.qi < b.qi;
  };
  const size_t n = cand_.size();
  pile_of_.resize(n);
  cand tails[max_runs];
  size_t n_piles = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t best = max_runs;
    for (size_t p = 0; p < n_piles; ++p)
      if (!before(cand_[i], tails[p]) && (best == max_runs || before(tails[best], tails[p]))) best = p;
    if (best == max_runs) {
      if (n_piles == max_runs) {
        std::sort(cand_.begin(), cand_.end(), before);
        return;
      }
      best = n_piles++;
    }
    tails[best] = cand_[i];
    pile_of_[i] = uint8_t(best);
  }
  // Flatten the piles, then merge their heads.
  size_t start[max_runs + 1] = {};
  for (size_t i = 0; i < n; ++i) ++start[pile_of_[i] + 1];
  for (size_t p = 0; p < n_piles; ++p) start[p + 1] += start[p];
  merged_.resize(n);
  size_t fill[max_runs];
  for (size_t p = 0; p < n_piles; ++p) fill[p] = start[p];
  for (size_t i = 0; i < n; ++i) merged_[fill[pile_of_[i]]++] = cand_[i];
  size_t head[max_runs];
  for (size_t p = 0; p < n_piles; ++p) head[p] = start[p];
  for (size_t k = 0; k < n; ++k) {
    size_t best = max_runs;
    for (size_t p = 0; p < n_piles; ++p)
      if (head[p] < start[p + 1] && (best == max_runs || before(merged_[head[p]], merged_[head[best]]))) best = p;
    cand_[k] = merged_[head[best]++];
  }
}

void kairos_prefill_policy::select(std::span<const queued_prefill> queue, const prefill_context& ctx,
                                   const cost_model& cost, const prefill_limits& limits, prefill_batch& out) {
  out.items.clear();
  on_time_.clear();
  if (queue.empty()) return;
  const time_s now = ctx.now;

  // 1. Starving requests: the queue is in arrival order, so they are a prefix.
  size_t n_starving = 0;
  while (n_starving < queue.size() && queue[n_starving].arrival_s <= now - opt_.starvation_s) ++n_starving;
  const double m = double(1 + ctx.others_busy_until.size());
  if (opt_.starving_share > 0) {
    if (last_now_ >= 0 && now > last_now_)
      credit_s_ = std::min(opt_.starving_credit_s * m, credit_s_ + opt_.starving_share * m * (now - last_now_));
    last_now_ = std::max(last_now_, now);  // a clock that steps back credits nothing twice
  }
  // `paid`: charged to the credit. Served when nothing else could be on time
  // they take nobody's capacity, so that is free; the debt is therefore at
  // most one batch, and the starving are never held back longer than it takes
  // to repay it.
  auto serve_starving = [&](bool paid) {
    order_.resize(n_starving);
    for (size_t i = 0; i < n_starving; ++i) order_[i] = int32_t(i);
    fill_batch_in_order(queue, order_, limits, out);
    if (paid && opt_.starving_share > 0) {
      pieces_.clear();
      for (const auto& it : out.items) pieces_.push_back({it.tokens, queue[size_t(it.queue_index)].prefilled_tokens});
      credit_s_ -= cost.prefill_time(pieces_);
    }
  };
  if (n_starving > 0 && (opt_.starving_share <= 0 || credit_s_ > 0)) {
    serve_starving(true);
    return;
  }

  // 2. Predicted times; hopeless requests are left out of the candidates.
  cand_.clear();
  bool sorted = true;
  for (size_t i = 0; i < queue.size(); ++i) {
    const auto& q = queue[i];
    const double p = cost.prefill_time({prefill_piece{q.remaining(), q.prefilled_tokens}});
    if (now + p > q.deadline_s) continue;
    if (!cand_.empty() && q.deadline_s < cand_.back().deadline) sorted = false;
    cand_.push_back({q.deadline_s, p, int32_t(i)});
  }
  if (!sorted) sort_by_deadline();

  // 3. Moore-Hodgson over the candidates, with m parallel instances.
  double backlog = 0;
  for (time_s t : ctx.others_busy_until) backlog += std::max(0.0, t - now);
  heap_.clear();
  dropped_.assign(cand_.size(), 0);
  auto longer = [&](int32_t a, int32_t b) { return cand_[size_t(a)].p < cand_[size_t(b)].p; };
  double work = 0;  // predicted work of the on-time set so far
  for (size_t k = 0; k < cand_.size(); ++k) {
    const auto& c = cand_[k];
    heap_.push_back(int32_t(k));
    std::push_heap(heap_.begin(), heap_.end(), longer);
    work += c.p;
    const double finish = now + (backlog + work - c.p) / m + c.p;
    if (finish > c.deadline) {
      std::pop_heap(heap_.begin(), heap_.end(), longer);
      const int32_t j = heap_.back();
      heap_.pop_back();
      dropped_[size_t(j)] = 1;
      work -= cand_[size_t(j)].p;
    }
  }
  for (size_t k = 0; k < cand_.size(); ++k)
    if (!dropped_[k]) on_time_.push_back(cand_[k].qi);
  if (opt_.shortest_first)
    std::stable_sort(on_time_.begin(), on_time_.end(),
                     [&](int32_t a, int32_t b) { return queue[size_t(a)].remaining() < queue[size_t(b)].remaining(); });

  // 5. Nothing can be on time: the starving (owed credit or not), else the
  // deferred ones, oldest first.
  if (on_time_.empty() && n_starving > 0) {
    serve_starving(false);
    return;
  }
  if (on_time_.empty()) {
    order_.resize(queue.size());
    for (size_t i = 0; i < queue.size(); ++i) order_[i] = int32_t(i);
    fill_batch_in_order(queue, order_, limits, out);
    return;
  }

  // 4. Deadline order over the on-time set.
  if (limits.chunk_tokens > 0 || !opt_.batch) {
    if (!opt_.batch) {
      const auto& q = queue[size_t(on_time_[0])];
      const int32_t n = limits.chunk_tokens > 0 ? std::min(q.remaining(), limits.chunk_tokens) : q.remaining();
      out.items.push_back({on_time_[0], n});
      return;
    }
    fill_batch_in_order(queue, on_time_, limits, out);
    return;
  }
  pieces_.clear();
  const auto& head = queue[size_t(on_time_[0])];
  pieces_.push_back({head.remaining(), head.prefilled_tokens});
  out.items.push_back({on_time_[0], head.remaining()});
  int32_t tokens = head.remaining();
  double t_batch = cost.prefill_time(pieces_);
  time_s tightest = head.deadline_s;
  for (size_t k = 1; k < on_time_.size(); ++k) {
    if (int32_t(out.items.size()) >= limits.max_batch_size) break;
    const auto& q = queue[size_t(on_time_[k])];
    if (tokens + q.remaining() > limits.max_batch_tokens) break;
    pieces_.push_back({q.remaining(), q.prefilled_tokens});
    const double t_new = cost.prefill_time(pieces_);
    const double t_alone = cost.prefill_time({pieces_.back()});
    const time_s tight = std::min(tightest, q.deadline_s);
    if (now + t_new > tight || t_new > t_batch + t_alone) {
      pieces_.pop_back();
      break;
    }
    out.items.push_back({on_time_[k], q.remaining()});
    tokens += q.remaining();
    t_batch = t_new;
    tightest = tight;
  }
}

}  // namespace kairos::sched

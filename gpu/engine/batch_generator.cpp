#include "gpu/engine/batch_generator.hpp"

#include <algorithm>
#include <chrono>
#include <deque>

namespace kairos {

namespace {
using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct live_request {
  int index = 0;
  std::vector<std::int32_t> context;  // prompt, then generated tokens
  int n_cached = 0;                   // context tokens already in the KV cache
  sampler smp;
  bool running = false;
  bool done = false;
  explicit live_request(const sampling_params& p) : smp(p) {}
};
}  // namespace

batch_generator::batch_generator(cpu_engine& engine, generator_options opts) : engine_(engine), opts_(opts) {}

std::vector<generation_output> batch_generator::run(std::span<const generation_request> requests,
                                                    const token_callback& on_token) {
  const auto t0 = clock_type::now();
  stats_ = {};
  std::vector<generation_output> out(requests.size());
  std::vector<live_request> live;
  live.reserve(requests.size());
  const int capacity = engine_.kv_table().n_blocks() * engine_.kv_table().block_size();
  const int max_pos = std::min(capacity, engine_.config().max_position);
  std::deque<int> waiting;  // indices into live, in arrival order
  std::vector<int> running;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    live.emplace_back(requests[i].sampling);
    live.back().index = static_cast<int>(i);
    live.back().context = requests[i].prompt;
    if (requests[i].prompt.empty()) {
      out[i].error = "empty prompt";
      live.back().done = true;
    } else if (static_cast<int>(requests[i].prompt.size()) >= max_pos) {
      out[i].error = "prompt of " + std::to_string(requests[i].prompt.size()) + " tokens does not fit the " +
                     std::to_string(max_pos) + "-token context";
      live.back().done = true;
    } else {
      waiting.push_back(static_cast<int>(i));
    }
  }
  std::vector<batch_sequence> batch;
  std::vector<int> batch_req;
  auto seq_of = [&](int i) { return opts_.first_seq_id + i; };
  auto finish = [&](live_request& r) {
    r.done = true;
    engine_.free_sequence(seq_of(r.index));
  };

  const auto& table = engine_.kv_table();
  // Frees a request's blocks and sends it back to the front of the queue; it
  // is recomputed from its prompt and the tokens it has generated.
  auto preempt = [&](int victim) {
    engine_.free_sequence(seq_of(victim));
    live[victim].n_cached = 0;
    if (live[victim].running) {
      live[victim].running = false;
      std::erase(running, victim);
      waiting.push_front(victim);
    }
    out[victim].n_preemptions++;
  };
  // The newest request (highest index among those admitted) holding blocks, except `keep`.
  auto newest_holder = [&](int keep) {
    int best = -1;
    for (int i : running)
      if (i != keep && i > best) best = i;
    for (int i : waiting)
      if (i != keep && live[i].n_cached > 0 && i > best) best = i;
    return best;
  };

  while (!waiting.empty() || !running.empty()) {
    // -- capacity: every running sequence gets its next token's block --
    int decode_need = 0;
    for (int i : running) decode_need += table.blocks_needed(seq_of(i), 1);
    if (decode_need > table.n_free()) {
      const int victim = newest_holder(-1);
      if (victim >= 0 && (running.size() > 1 || victim != running.front())) {
        preempt(victim);
        continue;
      }
      const int lone = running.front();  // alone and still out of blocks
      out[lone].error = "KV cache exhausted: the sequence alone needs more than the whole cache";
      finish(live[lone]);
      running.clear();
      continue;
    }
    int free_left = table.n_free() - decode_need;

    batch.clear();
    batch_req.clear();
    int budget = opts_.max_step_tokens;
    for (int i : running) {  // one decode token each
      auto& r = live[i];
      batch.push_back({seq_of(i), std::span<const std::int32_t>(r.context).subspan(r.n_cached, 1), true});
      batch_req.push_back(i);
      --budget;
    }
    const std::size_t n_decode = batch.size();
    bool has_prefill = false;
    for (int i : waiting) {  // prompt chunks in arrival order, as far as blocks allow
      if (budget <= 0) break;
      auto& r = live[i];
      const int left = static_cast<int>(r.context.size()) - r.n_cached;
      const int held = table.n_tokens(seq_of(i));
      const int room = (table.blocks(seq_of(i)).size() + free_left) * table.block_size() - held;
      const int n = std::min({left, budget, room});
      if (n <= 0) break;  // keep arrival order: later prompts do not jump ahead
      batch.push_back({seq_of(i), std::span<const std::int32_t>(r.context).subspan(r.n_cached, n), n == left});
      batch_req.push_back(i);
      budget -= n;
      free_left -= table.blocks_needed(seq_of(i), n);
      has_prefill = true;
    }
    if (batch.empty()) {
      // Nothing runs and the first prompt cannot get a block: free someone newer.
      const int first = waiting.front();
      const int victim = newest_holder(first);
      if (victim >= 0) {
        preempt(victim);
      } else {
        out[first].error = "KV cache exhausted: the prompt alone needs more than the whole cache";
        finish(live[first]);
        waiting.pop_front();
      }
      continue;
    }

    const auto ts = clock_type::now();
    auto res = engine_.forward(batch);
    if (res.status != forward_status::ok) {  // invalid batch: fail its requests, keep the rest going
      for (int i : batch_req) {
        out[i].error = res.message;
        finish(live[i]);
      }
      std::erase_if(running, [&](int i) { return live[i].done; });
      std::erase_if(waiting, [&](int i) { return live[i].done; });
      continue;
    }
    const double step_s = seconds_since(ts);
    stats_.n_steps++;
    (has_prefill ? stats_.prefill_s : stats_.decode_s) += step_s;

    int row = 0;
    for (std::size_t b = 0; b < batch.size(); ++b) {
      const int i = batch_req[b];
      auto& r = live[i];
      r.n_cached += static_cast<int>(batch[b].tokens.size());
      if (b < n_decode) stats_.n_decode_tokens += 1;
      else stats_.n_prefill_tokens += static_cast<int>(batch[b].tokens.size());
      if (!batch[b].want_logits) continue;
      const std::int32_t tok = r.smp.sample(res.logits(row++));
      r.context.push_back(tok);
      auto& o = out[i];
      o.tokens.push_back(tok);
      if (o.tokens.size() == 1) o.ttft_s = seconds_since(t0);
      o.total_s = seconds_since(t0);
      if (on_token) on_token(i, tok);
      stop_reason why = requests[i].stop.check(tok, static_cast<int>(o.tokens.size()));
      if (why == stop_reason::none && static_cast<int>(r.context.size()) >= max_pos) why = stop_reason::max_tokens;
      if (why != stop_reason::none) {
        o.reason = why;
        finish(r);
      } else if (!r.running) {
        r.running = true;
        running.push_back(i);
      }
    }
    std::erase_if(running, [&](int i) { return live[i].done; });
    std::erase_if(waiting, [&](int i) { return live[i].done || live[i].running; });
  }
  return out;
}

}  // namespace kairos

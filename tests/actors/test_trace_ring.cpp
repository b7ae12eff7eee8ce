// The trace rings on their own, with a fake clock: a handled message is one
// stored slot that collect() expands into receive, handle_begin and
// handle_end in the order they happened (nested handlers and the events
// inside them included); handlers too long to fold keep a handle_end of their
// own; a ring freed by an ended thread is taken over after a clear().
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "actors/trace.hpp"

using namespace kairos;
using trace::actor_kind;
using trace::kind;
using trace::what;

namespace {

int64_t g_fake_ns = 0;
int64_t fake_now(const void*) { return g_fake_ns; }

// Tracing on with the fake clock for one test; off and cleared after.
struct fake_clock_recording {
  trace::clock_source src{&fake_now, nullptr, 0, true};
  fake_clock_recording() {
    g_fake_ns = 1000;
    trace::install_clock(&src);
    trace::clear();
    trace::set_enabled(true);
  }
  ~fake_clock_recording() {
    trace::set_enabled(false);
    trace::uninstall_clock(&src);
    trace::clear();
  }
};

struct seen {
  kind k;
  what w;
  int64_t t_ns;
  uint64_t actor;
  int64_t request;
  int64_t batch;
  int32_t a;
};

std::vector<seen> collected() {
  std::vector<seen> out;
  for (const auto& e : trace::collect()) out.push_back({e.k, e.w, e.t_ns, e.actor, e.request, e.batch, e.a});
  return out;
}

}  // namespace

TEST_CASE("a handler with no events inside is receive, handle_begin, handle_end with its duration") {
  fake_clock_recording rec;
  {
    trace::handler h(actor_kind::request, what::token, 42, 7, 9);
    g_fake_ns += 2500;
  }
  const auto ev = collected();
  REQUIRE(ev.size() == 3);
  CHECK(ev[0].k == kind::receive);
  CHECK(ev[1].k == kind::handle_begin);
  CHECK(ev[2].k == kind::handle_end);
  for (const auto& e : ev) {
    CHECK(e.w == what::token);
    CHECK(e.actor == 42);
    CHECK(e.request == 7);
    CHECK(e.batch == 9);
    CHECK(e.a == 0);
  }
  CHECK(ev[0].t_ns == 1000);
  CHECK(ev[1].t_ns == 1000);
  CHECK(ev[2].t_ns == 3500);
}

TEST_CASE("nested handlers and the events inside them come out in the order they happened") {
  fake_clock_recording rec;
  {
    trace::handler outer(actor_kind::decode_scheduler, what::step_done, 1, -1, 5);
    g_fake_ns += 10;
    trace::sent(actor_kind::decode_scheduler, what::token, 1, 100, 77);
    {
      g_fake_ns += 10;
      trace::handler inner(actor_kind::request, what::token, 2, 100);
      g_fake_ns += 10;
      trace::sent(actor_kind::request, what::cancel, 2, 100);
      g_fake_ns += 10;
    }
    g_fake_ns += 10;
    trace::scope span(actor_kind::decode_scheduler, what::kv_transfer, 1, 101, 64);
    span.member(101, -1);
  }
  const auto ev = collected();
  const std::vector<std::pair<kind, int64_t>> want = {
      {kind::receive, 1000},      {kind::handle_begin, 1000}, {kind::send, 1010},     {kind::receive, 1020},
      {kind::handle_begin, 1020}, {kind::send, 1030},         {kind::handle_end, 1040}, {kind::span_begin, 1050},
      {kind::member, 1050},       {kind::span_end, 1050},     {kind::handle_end, 1050}};
  REQUIRE(ev.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CHECK(ev[i].k == want[i].first);
    CHECK(ev[i].t_ns == want[i].second);
  }
  CHECK(ev[2].a == 77);      // the token id of the send
  CHECK(ev[6].actor == 2);   // the inner handler's end
  CHECK(ev[10].actor == 1);  // the outer handler's end
  CHECK(ev[10].batch == 5);
  CHECK(ev[8].a == -1);      // a member's value
}

TEST_CASE("a handler longer than 2^31 ns keeps an explicit handle_end with the exact time") {
  fake_clock_recording rec;
  {
    trace::handler h(actor_kind::device, what::prefill_batch, 3, -1, 12);
    g_fake_ns += int64_t(5) * 1000 * 1000 * 1000;  // 5 s: a long prefill on a cpu device
  }
  const auto ev = collected();
  REQUIRE(ev.size() == 3);
  CHECK(ev[0].k == kind::receive);
  CHECK(ev[1].k == kind::handle_begin);
  CHECK(ev[2].k == kind::handle_end);
  CHECK(ev[2].t_ns == 1000 + int64_t(5) * 1000 * 1000 * 1000);
  CHECK(ev[2].batch == 12);
}

TEST_CASE("a handler begun before a clear records nothing stale after it") {
  fake_clock_recording rec;
  {
    trace::handler h(actor_kind::request, what::token, 4, 1);
    trace::clear();
    g_fake_ns += 5;
  }
  CHECK(collected().empty());
}

TEST_CASE("rings: a dead thread's events are kept until cleared, then its ring is reused") {
  fake_clock_recording rec;
  auto record_on_new_thread = [](int64_t request) {
    uint32_t thread = 0;
    std::thread([&] {
      trace::sent(actor_kind::request, what::enqueue, 9, request);
      for (const auto& e : trace::collect())
        if (e.request == request) thread = e.thread;
    }).join();
    return thread;
  };
  const uint32_t first = record_on_new_thread(501);
  // Not cleared: the first thread's event is still there, so a new thread
  // must not take over its ring.
  const uint32_t second = record_on_new_thread(502);
  CHECK(second != first);
  int kept = 0;
  for (const auto& e : trace::collect()) kept += e.request == 501 || e.request == 502;
  CHECK(kept == 2);
  trace::clear();
  const uint32_t third = record_on_new_thread(503);
  CHECK((third == first || third == second));
  const auto ev = trace::collect();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].request == 503);
}

TEST_CASE("a decode step's running members, packed three to a slot, come out one by one with the span's time and actor") {
  fake_clock_recording rec;
  const std::vector<int64_t> run = {11, 12, 13, 14, 15, 16, 17};
  {
    trace::handler h(actor_kind::device, what::decode_step, 6, -1, 99);
    trace::scope span(actor_kind::device, what::decode_step, 6, -1, int32_t(run.size()), 99);
    g_fake_ns += 100;  // the members carry the span's begin time, not this
    span.runs(run, [](int64_t id) { return id; });
    span.member(21, -1);  // a load, recorded on its own
  }
  const auto ev = collected();
  // receive, handle_begin, span_begin, 7 runs, 1 load, span_end, handle_end
  REQUIRE(ev.size() == 13);
  CHECK(ev[2].k == kind::span_begin);
  CHECK(ev[2].a == 7);
  for (size_t j = 0; j < run.size(); ++j) {
    CAPTURE(j);
    const auto& m = ev[3 + j];
    CHECK(m.k == kind::member);
    CHECK(m.request == run[j]);
    CHECK(m.a == 0);
    CHECK(m.t_ns == 1000);
    CHECK(m.actor == 6);
    CHECK(m.batch == 99);
    CHECK(m.w == what::decode_step);
  }
  CHECK(ev[10].k == kind::member);
  CHECK(ev[10].request == 21);
  CHECK(ev[10].a == -1);
  CHECK(ev[11].k == kind::span_end);
  CHECK(ev[12].k == kind::handle_end);
  CHECK(ev[12].t_ns == 1100);
}

TEST_CASE("a handler across the ring's wrap keeps its events in order, and the wrap counts its lost slots") {
  REQUIRE(trace::set_capacity(size_t(1) << 16).ok());  // one 2 MiB chunk: the ring wraps at 65,536 slots
  fake_clock_recording rec;
  const int before = (1 << 16) - 5;
  for (int i = 0; i < before; ++i) trace::sent(actor_kind::decode_scheduler, what::token, 1, i);
  {
    trace::handler h(actor_kind::request, what::token, 2, 777);
    for (int i = 0; i < 10; ++i) {
      ++g_fake_ns;
      trace::sent(actor_kind::request, what::cancel, 2, 1000 + i);
    }
  }
  // 65,531 + 1 + 10 = 65,542 slots in a ring of 65,536: the 6 oldest are gone.
  CHECK(trace::dropped() == 6);
  const auto ev = collected();
  REQUIRE(ev.size() == (size_t(1) << 16) - 1 + 3);  // the handler's slot is three events
  CHECK(ev.front().request == 6);                    // the oldest send kept
  const auto* tail = &ev[ev.size() - 13];
  CHECK(tail[0].k == kind::receive);
  CHECK(tail[1].k == kind::handle_begin);
  CHECK(tail[1].request == 777);
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    CHECK(tail[2 + i].k == kind::send);
    CHECK(tail[2 + i].request == 1000 + i);
  }
  CHECK(tail[12].k == kind::handle_end);
  CHECK(tail[12].t_ns == 1010);
}

TEST_CASE("batch ids keep their sign through the ring's 40 bits") {
  fake_clock_recording rec;
  const int64_t lo = -(int64_t(1) << 39), hi = (int64_t(1) << 39) - 1;
  for (int64_t b : {lo, hi, int64_t(-1), int64_t(0), int64_t(123456789)})
    trace::record(actor_kind::device, kind::member, what::prefill_batch, 3, 5, 7, b);
  const auto ev = collected();
  REQUIRE(ev.size() == 5);
  CHECK(ev[0].batch == lo);
  CHECK(ev[1].batch == hi);
  CHECK(ev[2].batch == -1);
  CHECK(ev[3].batch == 0);
  CHECK(ev[4].batch == 123456789);
  CHECK(ev[4].a == 7);
}

// The phase breakdown behind `kairos bench engine --breakdown`: off, it records
// nothing; on, every forward adds time to the phases it ran, and the logits are
// the same as without timing.
#include <doctest/doctest.h>

#include "test_support.hpp"

using namespace kairos;
using namespace kairos::test;

TEST_CASE("phase times are zero when off and cover every phase a forward runs when on") {
  auto m = make_model(config_gqa_tied(), dtype::f32, 0.1, 7);
  const auto prompt = random_tokens(24, m->cfg.vocab_size, 3);

  auto off = make_engine(*m, make_options());
  engine_options o = make_options();
  o.time_phases = true;
  auto on = make_engine(*m, o);
  REQUIRE(off);
  REQUIRE(on);

  const std::vector<float> a = run_one(*off, 1, prompt);
  const std::vector<float> b = run_one(*on, 1, prompt);
  CHECK(a == b);  // timing reads clocks only
  CHECK(off->phase_times().forwards == 0);
  CHECK(off->phase_times().total() == 0.0);

  const engine_phase_times& t = on->phase_times();
  CHECK(t.forwards == 1);
  for (int p = 0; p < static_cast<int>(engine_phase::count); ++p) {
    INFO("phase " << to_string(static_cast<engine_phase>(p)));
    CHECK(t.seconds[static_cast<std::size_t>(p)] >= 0.0);
  }
  // The GEMMs and attention of a 24-token prefill take measurable time.
  CHECK(t.seconds[static_cast<int>(engine_phase::qkv_gemm)] > 0.0);
  CHECK(t.seconds[static_cast<int>(engine_phase::attention)] > 0.0);
  CHECK(t.seconds[static_cast<int>(engine_phase::lm_head)] > 0.0);

  // A decode step adds a second forward; reset starts over.
  const std::int32_t next = argmax(b);
  CHECK(run_one(*on, 1, std::span<const std::int32_t>(&next, 1)).size() == a.size());
  CHECK(on->phase_times().forwards == 2);
  on->reset_phase_times();
  CHECK(on->phase_times().forwards == 0);
  CHECK(on->phase_times().total() == 0.0);
}

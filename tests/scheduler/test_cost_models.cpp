// Cost models: roofline numbers, DistServe fit, lookup table, online correction.
#include <doctest/doctest.h>

#include <cmath>

#include "scheduler/corrected_cost_model.hpp"
#include "scheduler/fitted_cost_model.hpp"
#include "scheduler/preset_reader.hpp"
#include "scheduler/roofline_cost_model.hpp"
#include "scheduler/table_cost_model.hpp"
#include "tests/scheduler/fake_cost_model.hpp"

using namespace kairos::sched;

TEST_CASE("the llama3-8b-h100 preset file loads and gives roofline numbers by hand") {
  auto cm = load_preset("llama3-8b-h100", std::string(KAIROS_SOURCE_DIR) + "/configs/presets");
  REQUIRE(cm.model);
  CHECK(cm.source != "built-in");
  const auto& m = cm.setup.model;
  CHECK(m.total_params() == doctest::Approx(8.03e9).epsilon(0.01));
  // KV bytes per token: 32 layers x 2 x 8 heads x 128 x 2 bytes = 128 KiB
  CHECK(m.kv_bytes_per_token() == 131072);
  // Decode at batch 1: weight read (7.50e9 params x 2 B / 3.0 TB/s = 5.0 ms) + 1 ms overhead
  const double w = (m.block_params() + m.lm_head_params()) * 2 / 3.0e12;
  CHECK(cm.model->decode_step_time(1, 0) == doctest::Approx(w + 0.001).epsilon(1e-3));
  // Prefill of 1024 tokens is compute-bound: 2 x 6.98e9 x 1024 / 798e12 ~ 17.9 ms (+ attention, lm head, 1 ms)
  const double t = cm.model->prefill_time_one(1024);
  CHECK(t > 0.0185);
  CHECK(t < 0.0205);
  // KV transfer of 1000 tokens over NVLink: 50 us + 131 MB / 450 GB/s
  CHECK(cm.model->transfer_time(1000) == doctest::Approx(50e-6 + 1000 * 131072 / 450e9));
  // KV capacity: 0.9 x 80 GiB - 16.06 GB of weights, over 128 KiB
  CHECK(cm.setup.kv_capacity_tokens() > 400000);
  CHECK(cm.setup.kv_capacity_tokens() < 480000);
}

TEST_CASE("the DistServe fit recovers exact coefficients and reports MAPE") {
  // Samples from known coefficients: prefill 10 ms + 20 us/token + 1e-9 s/token^2,
  // decode 8 ms + 0.1 us/ctx token + 50 us/seq.
  profile_samples s;
  for (int b : {1, 2, 4})
    for (int l : {128, 512, 2048}) {
      prefill_sample p;
      p.lengths.assign(size_t(b), l);
      p.seconds = 0.010 + 20e-6 * b * l + 1e-9 * b * double(l) * l;
      s.prefill.push_back(p);
    }
  for (int b : {1, 16, 64, 256})
    for (int c : {256, 1024, 4096}) s.decode.push_back({b, int64_t(b) * c, 0.008 + 1e-7 * b * c + 50e-6 * b});
  const auto fit = fit_distserve(s);
  REQUIRE(fit.ok);
  CHECK(fit.prefill_coef[0] == doctest::Approx(0.010));
  CHECK(fit.prefill_coef[1] == doctest::Approx(20e-6));
  CHECK(fit.prefill_coef[2] == doctest::Approx(1e-9));
  CHECK(fit.decode_coef[0] == doctest::Approx(0.008));
  CHECK(fit.decode_coef[1] == doctest::Approx(1e-7));
  CHECK(fit.decode_coef[2] == doctest::Approx(50e-6));
  CHECK(fit.prefill_mape < 1e-9);
  CHECK(fit.decode_mape < 1e-9);
  fitted_cost_model m(fit, 0, 0);
  CHECK(m.prefill_time({prefill_piece{1000, 0}}) == doctest::Approx(0.010 + 0.020 + 0.001));

  SUBCASE("fit to the roofline: MAPE is reported and small") {
    auto cm = load_preset("llama3-8b-h100", std::string(KAIROS_SOURCE_DIR) + "/configs/presets");
    const int32_t lens[] = {64, 256, 1024, 4096, 8192}, bs[] = {1, 4, 16, 64, 256}, ctx[] = {256, 1024, 4096};
    const auto rf = fit_distserve(sample_profile(*cm.model, lens, bs, ctx));
    REQUIRE(rf.ok);
    MESSAGE("roofline -> DistServe fit: prefill MAPE " << rf.prefill_mape << ", decode MAPE " << rf.decode_mape);
    CHECK(rf.prefill_mape < 0.25);
    CHECK(rf.decode_mape < 0.10);
  }
  SUBCASE("too few samples is an error, not a crash") {
    profile_samples few;
    few.decode.push_back({1, 1, 0.01});
    CHECK_FALSE(fit_distserve(few).ok);
  }
}

TEST_CASE("the lookup table interpolates bilinearly and extrapolates linearly") {
  cost_table t;
  t.prefill_tokens = {0, 1000, 2000};
  t.prefill_s = {0.001, 0.011, 0.031};
  t.decode_batch = {1, 3};
  t.decode_context = {0, 1000};
  t.decode_s = {0.010, 0.020,   // batch 1
                0.030, 0.060};  // batch 3
  table_cost_model m(t);
  REQUIRE(m.valid());
  CHECK(m.prefill_time_one(500) == doctest::Approx(0.006));
  CHECK(m.prefill_time_one(1500) == doctest::Approx(0.021));
  CHECK(m.prefill_time_one(3000) == doctest::Approx(0.051));  // past the grid: last slope
  CHECK(m.decode_step_time(1, 500) == doctest::Approx(0.015));
  CHECK(m.decode_step_time(2, 0) == doctest::Approx(0.020));
  CHECK(m.decode_step_time(2, 500) == doctest::Approx((0.015 + 0.045) / 2));
  cost_table bad = t;
  bad.decode_context = {1000, 0};
  CHECK_FALSE(table_cost_model(bad).valid());

  // A table sampled from the roofline reproduces it at the grid points.
  auto cm = load_preset("llama3-8b-h100", std::string(KAIROS_SOURCE_DIR) + "/configs/presets");
  table_cost_model tm(tabulate(*cm.model, {1, 512, 1024, 4096}, {1, 8, 64}, {0, 8192, 65536}));
  CHECK(tm.decode_step_time(8, 8192) == doctest::Approx(cm.model->decode_step_time(8, 8192)));
  CHECK(tm.prefill_time_one(1024) == doctest::Approx(cm.model->prefill_time_one(1024)));
}

TEST_CASE("online correction converges to the measured/predicted ratio") {
  kairos::sched::testing::fake_cost_model base;
  corrected_cost_model c(base, 0.2);
  CHECK(c.decode_step_time(4, 0) == doctest::Approx(0.010));
  for (int i = 0; i < 100; ++i) c.observe_decode(4, 0, 0.020);  // the device is twice as slow
  CHECK(c.decode_ratio() == doctest::Approx(2.0).epsilon(1e-6));
  CHECK(c.decode_step_time(8, 0) == doctest::Approx(0.020).epsilon(1e-6));
  CHECK(c.prefill_ratio() == 1.0);  // prefill untouched
  c.observe_decode(4, 0, 1000.0);  // a wild sample is clamped (ratio <= 4)
  CHECK(c.decode_ratio() <= 2.0 * 0.8 + 4.0 * 0.2 + 1e-9);
}

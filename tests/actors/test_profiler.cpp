// `kairos profile`'s library half on configs/default.yaml (cpu, tiny model):
// the profile of a small grid writes a file that loads as the fitted model
// and as the lookup table, and the fit's error is reported.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>

#include "actors/profiler.hpp"
#include "actors/runtime.hpp"
#include "scheduler/preset_reader.hpp"

using namespace kairos;

TEST_CASE("profiling the default config's decode device writes a loadable profile") {
  auto cfg = load_runtime_config(std::string(KAIROS_SOURCE_DIR) + "/configs/default.yaml");
  REQUIRE_MESSAGE(cfg.ok(), (cfg.ok() ? "" : cfg.message()));
  profile_grid grid;
  grid.prefill_tokens = {16, 64, 256};
  grid.prefill_batch_sizes = {1, 4};
  grid.decode_batches = {1, 4, 16};
  grid.decode_contexts = {64, 512};
  grid.repeats = 1;
  auto r = profile_group(cfg.value(), "decode", &grid);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.message()));
  const auto& p = r.value();
  CHECK(p.device == "cpu:1");
  CHECK(p.samples.prefill.size() == 6);
  CHECK(p.samples.decode.size() == 6);
  CHECK(p.table.decode_s.size() == 6);
  for (const auto& s : p.samples.prefill) CHECK(s.seconds > 0);
  for (const auto& s : p.samples.decode) CHECK(s.seconds > 0);

  for (const char* type : {"fitted", "table"}) {
    CAPTURE(type);
    auto lm = sched::parse_cost_model(profile_json(p, cfg.value(), type), "profile.json");
    REQUIRE_MESSAGE(lm.model, lm.error);
    CHECK(lm.kind == type);
    CHECK(lm.model->decode_step_time(4, 256) > 0);
    CHECK(lm.model->prefill_time_one(100) > 0);
  }
  // The profile says which KV element type its decode times were measured with.
  CHECK(nlohmann::json::parse(profile_json(p, cfg.value(), "fitted"))["source"]["kv_dtype"] == "f32");
  auto fitted = sched::parse_cost_model(profile_json(p, cfg.value(), "fitted"), "profile.json");
  REQUIRE(fitted.fit);
  CHECK(std::isfinite(fitted.fit->prefill_mape));
  CHECK(std::isfinite(fitted.fit->decode_mape));
  MESSAGE("fitted MAPE: prefill " << fitted.fit->prefill_mape * 100 << "%, decode " << fitted.fit->decode_mape * 100 << "%");

  CHECK_FALSE(profile_group(cfg.value(), "nope").ok());

  // A runtime whose policies predict with the profile (cost_model: {type: file}).
  const std::string path = std::string(KAIROS_BIN_DIR) + "/profile_test.json";
  {
    std::ofstream f(path);
    f << profile_json(p, cfg.value(), "fitted");
  }
  auto rc = cfg.value();
  rc.cost.type = "file";
  rc.cost.file = path;
  auto rt = Runtime::create(rc);
  REQUIRE_MESSAGE(rt.ok(), (rt.ok() ? "" : rt.message()));
  std::promise<request_result> done;
  generate_request g;
  g.prompt = {5, 6, 7, 8, 9};
  g.max_tokens = 4;
  g.ignore_eos = true;
  REQUIRE(rt.value()->submit(g, {nullptr, [&](const request_result& r) { done.set_value(r); }}).ok());
  auto fut = done.get_future();
  REQUIRE(fut.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  CHECK(fut.get().status == request_status::finished);
  rt.value()->shutdown();
  std::remove(path.c_str());
}

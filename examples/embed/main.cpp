// Embeds kairos::Runtime: starts the default config (tiny random model on
// cpu, 1 prefill + 1 decode device), streams four requests, prints the stats.
// Exit code 0 when every request finished.
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "actors/runtime.hpp"

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : std::string(KAIROS_CONFIG_DIR) + "/default.yaml";
  auto cfg = kairos::load_runtime_config(path);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.message().c_str());
    return 1;
  }
  auto rt = kairos::Runtime::create(cfg.value());
  if (!rt) {
    std::fprintf(stderr, "%s\n", rt.message().c_str());
    return 1;
  }
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, finished = 0;
  for (int i = 0; i < 4; ++i) {
    kairos::generate_request r;
    for (int t = 0; t < 16 + 8 * i; ++t) r.prompt.push_back(10 + (t * 7 + i) % 500);
    r.max_tokens = 8;
    r.ignore_eos = true;
    auto h = rt.value()->submit(r, {[](int64_t id, int32_t tok) { std::printf("request %lld: token %d\n", (long long)id, tok); },
                                    [&](const kairos::request_result& res) {
                                      std::lock_guard<std::mutex> lk(mu);
                                      ++done;
                                      finished += res.status == kairos::request_status::finished;
                                      cv.notify_all();
                                    }});
    if (!h) {
      std::fprintf(stderr, "%s\n", h.message().c_str());
      return 1;
    }
  }
  {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return done == 4; });
  }
  const auto s = rt.value()->stats();
  std::printf("finished %lld of %lld, %lld decode steps, mean batch %.2f\n", (long long)s.finished,
              (long long)s.submitted, (long long)s.decode_steps, s.mean_decode_batch);
  return finished == 4 ? 0 : 1;
}

#pragma once
// Shared helpers of the actor runtime tests: a collector of request results
// (and, optionally, streamed tokens) from the runtime's threads, and prompts.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "actors/runtime.hpp"

namespace kairos::test {

struct collector {
  std::mutex mu;
  std::condition_variable cv;
  std::map<int64_t, request_result> done;
  std::map<int64_t, int> streamed;

  // Results and streamed tokens.
  request_callbacks callbacks() {
    return {[this](int64_t id, int32_t) {
              std::lock_guard<std::mutex> lk(mu);
              ++streamed[id];
              cv.notify_all();
            },
            result_callback()};
  }
  // Results only (no token callback).
  request_callbacks result_callbacks() { return {nullptr, result_callback()}; }

  bool wait_done(size_t n, std::chrono::seconds limit = std::chrono::seconds(120)) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, limit, [&] { return done.size() >= n; });
  }
  // Until every id has streamed at least k tokens.
  bool wait_tokens(const std::vector<int64_t>& ids, int k, std::chrono::seconds limit = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, limit, [&] {
      for (auto id : ids)
        if (streamed[id] < k) return false;
      return true;
    });
  }

 private:
  std::function<void(const request_result&)> result_callback() {
    return [this](const request_result& r) {
      std::lock_guard<std::mutex> lk(mu);
      done[r.id] = r;
      cv.notify_all();
    };
  }
};

// A deterministic prompt of `len` token ids, varied by `salt`.
inline std::vector<int32_t> prompt_of(int len, int salt) {
  std::vector<int32_t> p(static_cast<size_t>(len));
  for (int i = 0; i < len; ++i) p[size_t(i)] = 3 + (i * 131 + salt * 977) % 2000;
  return p;
}

}  // namespace kairos::test

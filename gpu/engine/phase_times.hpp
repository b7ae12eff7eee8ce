#pragma once
// Where a forward's wall time goes, summed over forwards: the breakdown that
// `kairos bench engine --breakdown` prints. Off by default (one branch per
// phase when off); on, it reads the steady clock twice per phase and layer.
#include <array>
#include <chrono>
#include <cstdint>

namespace kairos {

// gate_up_gemm includes SwiGLU (the GEMM's epilogue).
enum class engine_phase : int { embed, norm, qkv_gemm, rope_kv, attention, o_gemm, gate_up_gemm, down_gemm, lm_head, count };

inline const char* to_string(engine_phase p) {
  static constexpr const char* names[] = {"embed",  "rms_norm",          "qkv_gemm",  "rope+kv_write", "attention",
                                          "o_gemm", "gate_up_gemm+silu", "down_gemm", "lm_head"};
  return names[static_cast<int>(p)];
}

struct engine_phase_times {
  std::array<double, static_cast<int>(engine_phase::count)> seconds{};
  std::int64_t forwards = 0;
  double total() const {
    double s = 0;
    for (double v : seconds) s += v;
    return s;
  }
};

// Adds the time since the previous mark to a phase; does nothing when off.
class phase_clock {
 public:
  using clock = std::chrono::steady_clock;
  phase_clock(engine_phase_times* sink) : sink_(sink) {
    if (sink_) last_ = clock::now();
  }
  void mark(engine_phase p) {
    if (!sink_) return;
    const auto now = clock::now();
    sink_->seconds[static_cast<int>(p)] += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  engine_phase_times* sink_;
  clock::time_point last_{};
};

}  // namespace kairos

#include "scheduler/fitted_cost_model.hpp"

#include <cmath>

namespace kairos::sched {

namespace {

// Solves the 3x3 weighted normal equations of min sum w (x.c - y)^2.
bool solve_weighted(const std::vector<std::array<double, 3>>& x, const std::vector<double>& y,
                    std::array<double, 3>& coef) {
  double a[3][4] = {};
  for (size_t k = 0; k < x.size(); ++k) {
    if (y[k] <= 0) continue;
    const double w = 1.0 / (y[k] * y[k]);
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) a[i][j] += w * x[k][i] * x[k][j];
      a[i][3] += w * x[k][i] * y[k];
    }
  }
  // Gaussian elimination with partial pivoting; columns are rescaled first
  // because sum(l^2) is ~1e7 times sum(l).
  double scale[3];
  for (int j = 0; j < 3; ++j) {
    scale[j] = std::sqrt(std::abs(a[j][j]));
    if (scale[j] == 0) return false;
  }
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) a[i][j] /= scale[i] * scale[j];
    a[i][3] /= scale[i];
  }
  for (int c = 0; c < 3; ++c) {
    int p = c;
    for (int r = c + 1; r < 3; ++r)
      if (std::abs(a[r][c]) > std::abs(a[p][c])) p = r;
    if (std::abs(a[p][c]) < 1e-14) return false;
    for (int k = 0; k < 4; ++k) std::swap(a[c][k], a[p][k]);
    for (int r = 0; r < 3; ++r) {
      if (r == c) continue;
      const double f = a[r][c] / a[c][c];
      for (int k = c; k < 4; ++k) a[r][k] -= f * a[c][k];
    }
  }
  for (int i = 0; i < 3; ++i) coef[i] = a[i][3] / a[i][i] / scale[i];
  return true;
}

std::array<double, 3> prefill_features(std::span<const prefill_piece> batch) {
  double s = 0, s2 = 0;
  for (const auto& p : batch) {
    const double n = p.new_tokens;
    s += n;
    s2 += n * n + 2.0 * n * p.past_tokens;
  }
  return {1.0, s, s2};
}

double dot(const std::array<double, 3>& c, const std::array<double, 3>& x) {
  return c[0] * x[0] + c[1] * x[1] + c[2] * x[2];
}

}  // namespace

fit_report fit_distserve(const profile_samples& samples) {
  fit_report r;
  std::vector<std::array<double, 3>> xp, xd;
  std::vector<double> yp, yd;
  for (const auto& s : samples.prefill) {
    std::vector<prefill_piece> pieces;
    for (auto l : s.lengths) pieces.push_back({l, 0});
    xp.push_back(prefill_features(pieces));
    yp.push_back(s.seconds);
  }
  for (const auto& s : samples.decode) {
    xd.push_back({1.0, double(s.total_context), double(s.batch)});
    yd.push_back(s.seconds);
  }
  r.n_prefill = int(xp.size());
  r.n_decode = int(xd.size());
  if (xp.size() < 3 || xd.size() < 3) return r;
  if (!solve_weighted(xp, yp, r.prefill_coef) || !solve_weighted(xd, yd, r.decode_coef)) return r;
  auto mape = [](const auto& x, const auto& y, const auto& c) {
    double e = 0;
    for (size_t k = 0; k < x.size(); ++k) e += std::abs(dot(c, x[k]) - y[k]) / y[k];
    return e / double(x.size());
  };
  r.prefill_mape = mape(xp, yp, r.prefill_coef);
  r.decode_mape = mape(xd, yd, r.decode_coef);
  r.ok = true;
  return r;
}

profile_samples sample_profile(const cost_model& model, std::span<const int32_t> prompt_lengths,
                               std::span<const int32_t> batches, std::span<const int32_t> contexts_per_seq) {
  profile_samples out;
  for (int32_t b : batches) {
    for (int32_t l : prompt_lengths) {
      if (int64_t(b) * l > 16384) continue;  // a prefill batch stays under a token budget
      prefill_sample s;
      s.lengths.assign(size_t(b), l);
      std::vector<prefill_piece> pieces(size_t(b), prefill_piece{l, 0});
      s.seconds = model.prefill_time(pieces);
      out.prefill.push_back(std::move(s));
    }
    for (int32_t c : contexts_per_seq) {
      const int64_t ctx = int64_t(b) * c;
      out.decode.push_back({b, ctx, model.decode_step_time(b, ctx)});
    }
  }
  return out;
}

double fitted_cost_model::prefill_time(std::span<const prefill_piece> batch) const {
  if (batch.empty()) return 0.0;
  return dot(fit_.prefill_coef, prefill_features(batch));
}

double fitted_cost_model::decode_step_time(int32_t batch, int64_t total_context) const {
  if (batch <= 0) return 0.0;
  return dot(fit_.decode_coef, {1.0, double(total_context), double(batch)});
}

double fitted_cost_model::transfer_time(int64_t tokens) const {
  return tokens <= 0 ? 0.0 : kv_latency_s_ + kv_s_per_token_ * double(tokens);
}

}  // namespace kairos::sched

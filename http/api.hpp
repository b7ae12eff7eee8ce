#pragma once
// The serving front's protocol logic, without any networking: parsing and
// validating request JSON (OpenAI completions / chat, the WebSocket request),
// the response and frame bodies, and the Prometheus metrics. server.cpp (the
// only Beast TU) moves these bytes over HTTP, SSE and WebSocket.
// Talks to the runtime only through actors/runtime.hpp.
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "actors/runtime.hpp"
#include "gpu/tokenizer/bpe_tokenizer.hpp"
#include "gpu/tokenizer/chat_config.hpp"
#include "gpu/tokenizer/stream_decoder.hpp"

namespace kairos::http {

using json = nlohmann::json;

// An error a client can act on: the HTTP status, and the OpenAI error body
// {"error": {"message", "type", "code", "param"}}.
struct api_error {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string code = "invalid_value";
  std::string param;  // the offending field, when there is one
  json body() const;
};

// A rejection from Runtime::submit: 429 when the runtime is overloaded, 400
// otherwise (too long, bad token id, ...), 503 when it is shut down.
api_error rejection_error(const std::string& runtime_message);

// Parses a body as JSON; a syntax error names the byte offset.
std::optional<api_error> parse_json_body(const std::string& body, json& out);

enum class endpoint { completions, chat, ws };

// Stop strings, matched on the generated text: the text up to (not including)
// the first match is emitted, the rest is dropped. While streaming, the last
// (longest stop - 1) bytes are held back in case they start a match.
class stop_matcher {
 public:
  explicit stop_matcher(std::vector<std::string> stops = {});
  // The text that can go out now; `final`: nothing more will come.
  std::string feed(const std::string& delta, bool final);
  bool hit() const { return hit_; }
  bool active() const { return !stops_.empty(); }

 private:
  std::vector<std::string> stops_;
  size_t max_len_ = 0;
  std::string text_;
  size_t emitted_ = 0;
  bool hit_ = false;
};

struct parsed_request {
  std::vector<std::string> stop_texts;
  generate_request req;
  bool stream = false;
  std::string model;
  int32_t prompt_tokens = 0;
};

// The tokenizer and the names the front serves under.
struct frontend {
  explicit frontend(bpe_tokenizer t) : tokenizer(std::move(t)) {}
  std::string model_name = "kairos";
  bpe_tokenizer tokenizer;
  int32_t vocab_size = 0;
  int32_t max_prompt_tokens = 1 << 20;  // limit before submit (the runtime checks context again)
  std::array<sched::slo_targets, sched::n_request_classes> class_slo{};  // the config's defaults
  std::string chat_template;            // raw jinja from tokenizer_config.json, if any (informational)
  chat_config chat;                     // the model's chat template and special tokens (chat requests)

  // Validates an OpenAI completions / chat body or a WebSocket request
  // message; on error the message names the field.
  std::optional<api_error> parse(const json& body, endpoint ep, parsed_request& out) const;
  // The fallback when the model has no chat template: "<role>: content\n"
  // per message, then "assistant:".
  std::string render_chat(const json& messages) const;
};

// Builds the frontend for a config: the tokenizer beside model.path, or the
// synthetic tokenizer of the random model's vocabulary.
result<std::shared_ptr<frontend>> make_frontend(const runtime_config& cfg);

// Timings of an ended request, in seconds (-1 where not reached).
struct request_timings {
  double queue = -1, prefill = -1, transfer = -1, ttft = -1, tpot = -1, e2e = -1;
  bool ttft_met = false, tpot_met = false;
};
request_timings timings_of(const request_result& r);
json timings_json(const request_result& r);
const char* finish_reason(const request_result& r);

// The front's cumulative request outcomes and SLO counts, over all classes
// (a rejected, failed or cancelled request counts as a miss).
struct slo_totals {
  uint64_t ttft_met = 0, ttft_missed = 0, tpot_met = 0, tpot_missed = 0;
  uint64_t finished = 0, cancelled = 0, failed = 0, rejected = 0, generated_tokens = 0;
};

// Prometheus metrics, fed by the front's requests.
class metrics {
 public:
  metrics();
  void observe_token_gap(double seconds);
  void observe_done(const request_result& r);
  void observe_rejected(sched::request_class cls);
  void count_http(int status);
  slo_totals totals() const;
  std::string render(const runtime_stats& st) const;

 private:
  struct histogram {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bucket (non-cumulative), plus +Inf
    double sum = 0;
    uint64_t n = 0;
    void observe(double v);
    void render(std::string& out, const std::string& name, const std::string& help) const;
  };
  mutable std::mutex mu_;
  histogram ttft_, itl_, e2e_, queue_;
  // [class][kind: ttft, tpot, e2e][met, missed]
  std::array<std::array<std::array<uint64_t, 2>, 3>, sched::n_request_classes> slo_{};
  std::array<uint64_t, 4> outcomes_{};  // finished, cancelled, failed, rejected
  std::array<uint64_t, 6> http_{};      // 2xx 4xx(400) 401 413 429 5xx
  uint64_t generated_tokens_ = 0;
};

// Constant-time comparison of a presented key with the configured one.
bool keys_equal(const std::string& presented, const std::string& expected);

// WebSocket authentication for browsers, which cannot set headers on an
// upgrade: the client offers the subprotocols "kairos" and
// "kairos.bearer.<base64url(KEY)>" (no padding). Returns the key from a
// Sec-WebSocket-Protocol header value, if one is offered and decodes.
std::optional<std::string> bearer_from_subprotocols(const std::string& header);
// Whether `name` is among the comma-separated subprotocols of `header`.
bool offers_subprotocol(const std::string& header, const std::string& name);

// POST /v1/admin/trace writes a file on the server at a path the client
// names, so the path must stay inside the server's working directory:
// relative, not empty, no ".." component. Returns why it is refused, or "".
std::string trace_path_problem(const std::string& path);

}  // namespace kairos::http

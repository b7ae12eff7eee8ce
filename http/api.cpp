// The serving front's protocol logic: request validation, response bodies and
// metrics. No networking here (see server.cpp).
#include "http/api.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gpu/model/model_config.hpp"
#include "gpu/tokenizer/synthetic_tokenizer.hpp"
#include "gpu/tokenizer/utf8.hpp"

namespace kairos::http {

json api_error::body() const {
  json e = {{"message", message}, {"type", type}, {"code", code}};
  e["param"] = param.empty() ? json(nullptr) : json(param);
  return json{{"error", e}};
}

static api_error bad(std::string param, std::string message, std::string code = "invalid_value") {
  api_error e;
  e.status = 400;
  e.param = std::move(param);
  e.message = std::move(message);
  e.code = std::move(code);
  return e;
}

api_error rejection_error(const std::string& m) {
  api_error e;
  e.message = m;
  if (m.find("overloaded") != std::string::npos) {
    e.status = 429;
    e.type = "rate_limit_error";
    e.code = "overloaded";
  } else if (m.find("shut down") != std::string::npos) {
    e.status = 503;
    e.type = "server_error";
    e.code = "shutting_down";
  } else {
    e.status = 400;
    e.code = "rejected";
  }
  return e;
}

std::optional<api_error> parse_json_body(const std::string& body, json& out) {
  for (size_t i = 0; i < body.size();) {
    const size_t n = utf8::sequence_length(body, i);
    if (n == 0) return bad("", "the body is not valid UTF-8 (bad byte at offset " + std::to_string(i) + ")", "invalid_utf8");
    i += n;
  }
  try {
    out = json::parse(body);
  } catch (const json::parse_error& ex) {
    std::string what = ex.what();
    // nlohmann's text: "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
    const auto p = what.find("] ");
    return bad("", "malformed JSON body: " + (p == std::string::npos ? what : what.substr(p + 2)), "invalid_json");
  }
  if (!out.is_object()) return bad("", "the body must be a JSON object, got " + std::string(out.type_name()), "invalid_json");
  return std::nullopt;
}

namespace {

const char* type_of(const json& v) { return v.type_name(); }

std::optional<api_error> get_int(const json& body, const char* key, int64_t lo, int64_t hi, std::optional<int64_t>& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() && !(it->is_number_float() && std::floor(it->get<double>()) == it->get<double>()))
    return bad(key, std::string("'") + key + "' must be an integer, got " + type_of(*it), "invalid_type");
  const double d = it->get<double>();
  if (d < double(lo) || d > double(hi))
    return bad(key, std::string("'") + key + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                        it->dump());
  out = it->is_number_integer() ? it->get<int64_t>() : int64_t(d);
  return std::nullopt;
}

std::optional<api_error> get_num(const json& body, const char* key, double lo, double hi, bool lo_open,
                                 std::optional<double>& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return bad(key, std::string("'") + key + "' must be a number, got " + type_of(*it), "invalid_type");
  const double d = it->get<double>();
  if (!std::isfinite(d) || d > hi || (lo_open ? d <= lo : d < lo)) {
    std::ostringstream os;
    os << "'" << key << "' must be in " << (lo_open ? "(" : "[") << lo << ", " << hi << "], got " << it->dump();
    return bad(key, os.str());
  }
  out = d;
  return std::nullopt;
}

std::optional<api_error> get_bool(const json& body, const char* key, bool& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return bad(key, std::string("'") + key + "' must be true or false, got " + type_of(*it), "invalid_type");
  out = it->get<bool>();
  return std::nullopt;
}

}  // namespace

std::string frontend::render_chat(const json& messages) const {
  std::string s;
  for (const auto& m : messages) s += m["role"].get<std::string>() + ": " + m["content"].get<std::string>() + "\n";
  s += "assistant:";
  return s;
}

std::optional<api_error> frontend::parse(const json& body, endpoint ep, parsed_request& out) const {
  out = parsed_request{};
  generate_request& r = out.req;
  // model
  if (auto it = body.find("model"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return bad("model", "'model' must be a string, got " + std::string(type_of(*it)), "invalid_type");
    out.model = it->get<std::string>();
    if (out.model != model_name) {
      api_error e = bad("model", "the model '" + out.model + "' does not exist; this server serves '" + model_name + "'",
                        "model_not_found");
      e.status = 404;
      return e;
    }
  }
  if (out.model.empty()) out.model = model_name;
  // the prompt
  auto check_ids = [&](const json& arr, const char* key) -> std::optional<api_error> {
    if (arr.empty()) return bad(key, std::string("'") + key + "' is empty");
    for (size_t i = 0; i < arr.size(); ++i) {
      const auto& t = arr[i];
      if (!t.is_number_integer())
        return bad(key, std::string("'") + key + "[" + std::to_string(i) + "]' must be an integer token id, got " + type_of(t),
                   "invalid_type");
      const int64_t v = t.get<int64_t>();
      if (v < 0 || (vocab_size > 0 && v >= vocab_size))
        return bad(key, std::string("'") + key + "[" + std::to_string(i) + "]' = " + std::to_string(v) +
                            " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
      r.prompt.push_back(int32_t(v));
    }
    return std::nullopt;
  };
  if (ep == endpoint::chat) {
    auto it = body.find("messages");
    if (it == body.end()) return bad("messages", "'messages' is required", "missing_field");
    if (!it->is_array() || it->empty()) return bad("messages", "'messages' must be a non-empty array of {role, content}", "invalid_type");
    for (size_t i = 0; i < it->size(); ++i) {
      const auto& m = (*it)[i];
      const std::string at = "messages[" + std::to_string(i) + "]";
      if (!m.is_object()) return bad(at, "'" + at + "' must be an object", "invalid_type");
      auto role = m.find("role"), content = m.find("content");
      if (role == m.end() || !role->is_string()) return bad(at + ".role", "'" + at + ".role' must be a string", "invalid_type");
      // An assistant turn that only calls tools may have no content (templates only).
      const bool calls_only = chat.has_template() && m.contains("tool_calls") && (content == m.end() || content->is_null());
      if (!calls_only && (content == m.end() || !content->is_string()))
        return bad(at + ".content", "'" + at + ".content' must be a string", "invalid_type");
    }
    if (chat.has_template()) {
      // The model's own chat template, with the variables vLLM passes.
      // (nlohmann::json has already sorted object keys, so a tool schema
      // prints with sorted keys where vLLM keeps the client's order.)
      auto messages = nlohmann::ordered_json::parse(it->dump());
      for (auto& m : messages)
        if (!m.contains("content") || m["content"].is_null()) m["content"] = "";
      nlohmann::ordered_json tools, kwargs = nlohmann::ordered_json::object();
      if (auto t = body.find("tools"); t != body.end() && !t->is_null()) {
        if (!t->is_array()) return bad("tools", "'tools' must be an array", "invalid_type");
        tools = nlohmann::ordered_json::parse(t->dump());
      }
      if (auto k = body.find("chat_template_kwargs"); k != body.end() && !k->is_null()) {
        if (!k->is_object()) return bad("chat_template_kwargs", "'chat_template_kwargs' must be an object", "invalid_type");
        kwargs = nlohmann::ordered_json::parse(k->dump());
      }
      bool add_generation_prompt = true;
      if (auto e = get_bool(body, "add_generation_prompt", add_generation_prompt)) return e;
      std::string text;
      template_render_error err;
      if (!chat.apply(messages, add_generation_prompt, tools, kwargs, text, err))
        return bad("messages", err.message, "chat_template_error");
      r.prompt = tokenizer.encode(text);
    } else {
      r.prompt = tokenizer.encode(render_chat(*it));
    }
  } else {
    auto it = body.find("prompt");
    auto ids = body.find("prompt_token_ids");
    if (ids != body.end() && !ids->is_null()) {
      if (!ids->is_array()) return bad("prompt_token_ids", "'prompt_token_ids' must be an array of integers", "invalid_type");
      if (auto e = check_ids(*ids, "prompt_token_ids")) return e;
    } else if (it == body.end() || it->is_null()) {
      return bad("prompt", "'prompt' is required (a string or an array of token ids)", "missing_field");
    } else if (it->is_string()) {
      const auto& s = it->get_ref<const std::string&>();
      if (s.empty()) return bad("prompt", "'prompt' is empty");
      if (s.size() > size_t(max_prompt_tokens) * 8)
        return bad("prompt", "'prompt' is too long (" + std::to_string(s.size()) + " bytes)");
      r.prompt = tokenizer.encode(s);
    } else if (it->is_array()) {
      if (auto e = check_ids(*it, "prompt")) return e;
    } else {
      return bad("prompt", "'prompt' must be a string or an array of token ids, got " + std::string(type_of(*it)),
                 "invalid_type");
    }
  }
  if (r.prompt.empty()) return bad("prompt", "the prompt encodes to no tokens");
  if (int64_t(r.prompt.size()) > max_prompt_tokens)
    return bad("prompt", "the prompt has " + std::to_string(r.prompt.size()) + " tokens; the limit is " +
                             std::to_string(max_prompt_tokens));
  out.prompt_tokens = int32_t(r.prompt.size());
  // sampling and stop
  std::optional<int64_t> i64;
  std::optional<double> d;
  if (auto e = get_int(body, "max_tokens", 1, 1 << 30, i64)) return e;
  if (!i64 && ep == endpoint::chat)
    if (auto e = get_int(body, "max_completion_tokens", 1, 1 << 30, i64)) return e;
  if (i64) r.max_tokens = int32_t(*i64);
  i64.reset();
  if (auto e = get_num(body, "temperature", 0, 2, false, d)) return e;
  if (d) r.sampling.temperature = float(*d);
  d.reset();
  if (auto e = get_num(body, "top_p", 0, 1, true, d)) return e;
  if (d) r.sampling.top_p = float(*d);
  if (auto e = get_int(body, "top_k", -1, 1 << 30, i64)) return e;
  if (i64) r.sampling.top_k = *i64 < 0 ? 0 : int(*i64);
  i64.reset();
  if (auto e = get_int(body, "seed", 0, INT64_MAX, i64)) return e;
  if (i64) r.sampling.seed = uint64_t(*i64);
  i64.reset();
  if (auto e = get_int(body, "n", 1, 1, i64)) return e;
  if (auto e = get_bool(body, "ignore_eos", r.ignore_eos)) return e;
  if (ep != endpoint::ws)
    if (auto e = get_bool(body, "stream", out.stream)) return e;
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    std::vector<json> items;
    if (it->is_string() || it->is_number_integer()) items.push_back(*it);
    else if (it->is_array()) items.assign(it->begin(), it->end());
    else return bad("stop", "'stop' must be a string, a token id or an array of them", "invalid_type");
    for (const auto& s : items) {
      if (s.is_number_integer()) {
        const int64_t v = s.get<int64_t>();
        if (v < 0 || (vocab_size > 0 && v >= vocab_size)) return bad("stop", "'stop' token id " + std::to_string(v) + " is outside the vocabulary");
        r.stop_ids.push_back(int32_t(v));
      } else if (s.is_string()) {
        if (s.get_ref<const std::string&>().empty()) return bad("stop", "'stop' strings must not be empty");
        if (out.stop_texts.size() >= 16) return bad("stop", "'stop' has more than 16 strings");
        out.stop_texts.push_back(s.get<std::string>());
      } else {
        return bad("stop", "'stop' entries must be strings or token ids, got " + std::string(type_of(s)), "invalid_type");
      }
    }
  }
  // Kairos extras: the class and the SLO
  if (auto it = body.find("class"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return bad("class", "'class' must be a string", "invalid_type");
    const auto c = it->get<std::string>();
    if (c == "standard") r.cls = sched::request_class::standard;
    else if (c == "interactive") r.cls = sched::request_class::interactive;
    else if (c == "relaxed") r.cls = sched::request_class::relaxed;
    else return bad("class", "'class' must be standard, interactive or relaxed, got \"" + c + "\"");
  }
  if (auto it = body.find("slo"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return bad("slo", "'slo' must be an object {ttft_ms, tpot_ms}", "invalid_type");
    std::optional<double> ttft, tpot;
    for (const char* k : {"ttft_ms", "tpot_ms"})
      if (auto e = get_num(*it, k, 0, 3.6e6, true, std::string(k) == "ttft_ms" ? ttft : tpot)) {
        e->param = std::string("slo.") + k;
        e->message = "'slo." + e->message.substr(1);
        return e;
      }
    if (ttft || tpot) {
      sched::slo_targets s = class_slo[size_t(r.cls)];
      if (ttft) s.ttft_s = *ttft / 1e3;
      if (tpot) s.tpot_s = *tpot / 1e3;
      r.slo = s;
    }
  }
  return std::nullopt;
}

result<std::shared_ptr<frontend>> make_frontend(const runtime_config& cfg) {
  struct fields {
    std::string model_name = "kairos";
    int32_t vocab_size = 0;
    std::string chat_template;
    chat_config chat;
  } f;
  auto* fe = &f;
  namespace fs = std::filesystem;
  std::optional<bpe_tokenizer> tok;
  if (!cfg.model_path.empty()) {
    fs::path p(cfg.model_path);
    fs::path dir = fs::is_directory(p) ? p : p.parent_path();
    fe->model_name = (fs::is_directory(p) ? p : p.stem()).filename().string();
    if (fs::exists(dir / "tokenizer.json")) {
      auto t = bpe_tokenizer::load((dir / "tokenizer.json").string());
      if (!t) return make_error("tokenizer: " + t.message());
      tok = std::move(t.value());
    }
    // The chat template (tokenizer_config.json / chat_template.jinja) and
    // the special tokens it prints.
    auto chat = chat_config::load_dir(dir.string());
    if (!chat) return make_error("chat template: " + chat.message());
    fe->chat = std::move(chat.value());
    if (fe->chat.tmpl) fe->chat_template = fe->chat.tmpl->source();
    if (auto cj = dir / "config.json"; fs::exists(cj)) {
      try {
        std::ifstream in(cj);
        json c = json::parse(in);
        if (c.contains("vocab_size")) fe->vocab_size = c["vocab_size"].get<int32_t>();
      } catch (...) {
      }
    }
  }
  if (!tok) {
    int vocab = 2048;
    if (auto shape = named_shape(cfg.model_shape)) vocab = shape->vocab_size;
    if (cfg.all_sim()) vocab = std::min(vocab, 8192);  // sim: ids only count, a small tokenizer is enough
    auto t = bpe_tokenizer::from_json_text(make_synthetic_tokenizer_json(vocab), "synthetic tokenizer");
    if (!t) return make_error("synthetic tokenizer: " + t.message());
    tok = std::move(t.value());
    if (fe->vocab_size == 0) fe->vocab_size = vocab;
    if (cfg.model_path.empty()) fe->model_name = "kairos-" + cfg.model_shape;
  }
  if (fe->vocab_size == 0) fe->vocab_size = tok->vocab_size();
  auto out = std::make_shared<frontend>(std::move(*tok));
  out->model_name = f.model_name;
  out->vocab_size = f.vocab_size;
  out->chat_template = f.chat_template;
  out->chat = std::move(f.chat);
  out->class_slo = cfg.slo;
  return out;
}

stop_matcher::stop_matcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const auto& s : stops_) max_len_ = std::max(max_len_, s.size());
}

std::string stop_matcher::feed(const std::string& delta, bool final) {
  if (stops_.empty()) return delta;
  if (hit_) return {};
  text_ += delta;
  const size_t from = emitted_ >= max_len_ ? emitted_ - max_len_ + 1 : 0;
  size_t best = std::string::npos;
  for (const auto& s : stops_) best = std::min(best, text_.find(s, from));
  size_t upto;
  if (best != std::string::npos) {
    hit_ = true;
    upto = best;
  } else {
    upto = final ? text_.size() : text_.size() - std::min(text_.size() - emitted_, max_len_ - 1);
    // never cut a UTF-8 character apart
    while (!final && upto > emitted_ && upto < text_.size() && (static_cast<unsigned char>(text_[upto]) & 0xC0) == 0x80) --upto;
  }
  if (upto < emitted_) upto = emitted_;
  std::string out = text_.substr(emitted_, upto - emitted_);
  emitted_ = upto;
  return out;
}

request_timings timings_of(const request_result& r) {
  request_timings t;
  const auto& x = r.times;
  auto diff = [](double a, double b) { return a >= 0 && b >= 0 ? a - b : -1.0; };
  t.queue = diff(x.prefill_start_s, x.queued_s);
  t.prefill = diff(x.first_token_s, x.prefill_start_s);
  t.transfer = diff(x.decode_start_s, x.first_token_s);
  t.ttft = diff(x.first_token_s, x.queued_s);
  const double end = x.last_token_s >= 0 ? x.last_token_s : x.end_s;
  t.e2e = diff(end, x.queued_s);
  const size_t n = r.tokens.size();
  t.tpot = n > 1 && x.first_token_s >= 0 && x.last_token_s >= 0 ? (x.last_token_s - x.first_token_s) / double(n - 1)
                                                                 : (n == 1 ? 0.0 : -1.0);
  const bool done = r.status == request_status::finished;
  t.ttft_met = done && t.ttft >= 0 && t.ttft <= r.slo.ttft_s;
  t.tpot_met = done && t.tpot >= 0 && t.tpot <= r.slo.tpot_s;
  return t;
}

json timings_json(const request_result& r) {
  const auto t = timings_of(r);
  auto ms = [](double s) { return s >= 0 ? json(std::round(s * 1e6) / 1e3) : json(nullptr); };
  return json{{"queue_ms", ms(t.queue)},       {"prefill_ms", ms(t.prefill)}, {"transfer_ms", ms(t.transfer)},
              {"ttft_ms", ms(t.ttft)},         {"tpot_ms", ms(t.tpot)},       {"e2e_ms", ms(t.e2e)},
              {"slo", {{"ttft_ms", r.slo.ttft_s * 1e3}, {"tpot_ms", r.slo.tpot_s * 1e3}}},
              {"ttft_met", t.ttft_met},        {"tpot_met", t.tpot_met},      {"slo_met", t.ttft_met && t.tpot_met},
              {"prefill_device", r.prefill_device}, {"decode_device", r.decode_device}};
}

const char* finish_reason(const request_result& r) {
  if (r.status == request_status::cancelled) return "cancelled";
  if (r.status == request_status::failed) return "error";
  switch (r.reason) {
    case stop_reason::max_tokens: return "length";
    case stop_reason::eos:
    case stop_reason::stop_token: return "stop";
    default: return "stop";
  }
}

// -- metrics --

static std::vector<double> latency_buckets() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
}

metrics::metrics() {
  for (auto* h : {&ttft_, &itl_, &e2e_, &queue_}) {
    h->bounds = latency_buckets();
    h->counts.assign(h->bounds.size() + 1, 0);
  }
}

void metrics::histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++n;
}

static std::string num(double v) {
  std::ostringstream os;
  os.precision(9);
  os << v;
  return os.str();
}

void metrics::histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cum += counts[i];
    out += name + "_bucket{le=\"" + num(bounds[i]) + "\"} " + std::to_string(cum) + "\n";
  }
  cum += counts.back();
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cum) + "\n";
  out += name + "_sum " + num(sum) + "\n" + name + "_count " + std::to_string(n) + "\n";
}

void metrics::observe_token_gap(double s) {
  std::lock_guard lk(mu_);
  itl_.observe(s);
}

void metrics::observe_done(const request_result& r) {
  const auto t = timings_of(r);
  std::lock_guard lk(mu_);
  generated_tokens_ += r.tokens.size();
  if (r.status == request_status::finished) ++outcomes_[0];
  else if (r.status == request_status::cancelled) ++outcomes_[1];
  else ++outcomes_[2];
  if (t.ttft >= 0) ttft_.observe(t.ttft);
  if (t.e2e >= 0 && r.status == request_status::finished) e2e_.observe(t.e2e);
  if (t.queue >= 0) queue_.observe(t.queue);
  auto& c = slo_[size_t(r.cls)];
  c[0][t.ttft_met ? 0 : 1]++;
  c[1][t.tpot_met ? 0 : 1]++;
  c[2][t.ttft_met && t.tpot_met ? 0 : 1]++;
}

void metrics::observe_rejected(sched::request_class cls) {
  std::lock_guard lk(mu_);
  ++outcomes_[3];
  auto& c = slo_[size_t(cls)];
  for (auto& k : c) k[1]++;
}

slo_totals metrics::totals() const {
  slo_totals t;
  std::lock_guard lk(mu_);
  for (const auto& c : slo_) {
    t.ttft_met += c[0][0];
    t.ttft_missed += c[0][1];
    t.tpot_met += c[1][0];
    t.tpot_missed += c[1][1];
  }
  t.finished = outcomes_[0];
  t.cancelled = outcomes_[1];
  t.failed = outcomes_[2];
  t.rejected = outcomes_[3];
  t.generated_tokens = generated_tokens_;
  return t;
}

void metrics::count_http(int status) {
  std::lock_guard lk(mu_);
  size_t i = status < 400 ? 0 : status == 401 ? 2 : status == 413 ? 3 : status == 429 ? 4 : status >= 500 ? 5 : 1;
  ++http_[i];
}

std::string metrics::render(const runtime_stats& st) const {
  std::string out;
  std::lock_guard lk(mu_);
  ttft_.render(out, "kairos:time_to_first_token_seconds", "Arrival to first token.");
  itl_.render(out, "kairos:inter_token_latency_seconds", "Gap between consecutive tokens of a request.");
  e2e_.render(out, "kairos:e2e_request_latency_seconds", "Arrival to last token of finished requests.");
  queue_.render(out, "kairos:request_queue_time_seconds", "Arrival to start of prefill.");
  out += "# HELP kairos:slo_met_total Requests that met the SLO, by class and kind (ttft, tpot, e2e = both).\n"
         "# TYPE kairos:slo_met_total counter\n";
  std::string missed = "# HELP kairos:slo_missed_total Requests that missed the SLO (rejected, failed and cancelled "
                       "ones included), by class and kind.\n# TYPE kairos:slo_missed_total counter\n";
  static const char* kinds[] = {"ttft", "tpot", "e2e"};
  for (int c = 0; c < sched::n_request_classes; ++c)
    for (int k = 0; k < 3; ++k) {
      const std::string lbl = std::string("{class=\"") + sched::to_string(sched::request_class(c)) + "\",kind=\"" + kinds[k] + "\"}";
      out += "kairos:slo_met_total" + lbl + " " + std::to_string(slo_[size_t(c)][size_t(k)][0]) + "\n";
      missed += "kairos:slo_missed_total" + lbl + " " + std::to_string(slo_[size_t(c)][size_t(k)][1]) + "\n";
    }
  out += missed;
  out += "# HELP kairos:requests_total Requests seen by the front, by outcome.\n# TYPE kairos:requests_total counter\n";
  static const char* outc[] = {"finished", "cancelled", "failed", "rejected"};
  for (int i = 0; i < 4; ++i) out += std::string("kairos:requests_total{outcome=\"") + outc[i] + "\"} " + std::to_string(outcomes_[size_t(i)]) + "\n";
  out += "# HELP kairos:generation_tokens_total Tokens generated for the front's requests.\n"
         "# TYPE kairos:generation_tokens_total counter\nkairos:generation_tokens_total " + std::to_string(generated_tokens_) + "\n";
  out += "# HELP kairos:http_responses_total HTTP responses by status family.\n# TYPE kairos:http_responses_total counter\n";
  static const char* hs[] = {"2xx", "400", "401", "413", "429", "5xx"};
  for (int i = 0; i < 6; ++i) out += std::string("kairos:http_responses_total{status=\"") + hs[i] + "\"} " + std::to_string(http_[size_t(i)]) + "\n";
  // gauges from the runtime
  auto gauge = [&](const char* name, const char* help, double v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " + num(v) + "\n";
  };
  // Per group (runtime.hpp, group_load): summing over groups gives the runtime's totals.
  std::string waiting = "# HELP kairos:num_requests_waiting Requests waiting, by group: prefill = not yet in a prefill "
                        "batch; decode = KV in transfer or waiting for a decode slot.\n"
                        "# TYPE kairos:num_requests_waiting gauge\n";
  std::string running = "# HELP kairos:num_requests_running Requests running, by group: in a prefill batch, or "
                        "decoding.\n# TYPE kairos:num_requests_running gauge\n";
  for (const auto& g : st.groups) {
    waiting += "kairos:num_requests_waiting{group=\"" + g.group + "\"} " + std::to_string(g.waiting) + "\n";
    running += "kairos:num_requests_running{group=\"" + g.group + "\"} " + std::to_string(g.running) + "\n";
  }
  out += waiting + running;
  gauge("kairos:num_requests_in_flight", "Requests admitted and not yet ended.", double(st.in_flight));
  gauge("kairos:mean_decode_batch", "Mean decode batch size.", st.mean_decode_batch);
  out += "# HELP kairos:runtime_requests_total Runtime request counters.\n# TYPE kairos:runtime_requests_total counter\n";
  const std::pair<const char*, int64_t> rc[] = {{"submitted", st.submitted}, {"rejected", st.rejected}, {"finished", st.finished},
                                                {"cancelled", st.cancelled}, {"failed", st.failed}};
  for (auto& [k, v] : rc) out += std::string("kairos:runtime_requests_total{outcome=\"") + k + "\"} " + std::to_string(v) + "\n";
  out += "# HELP kairos:decode_tokens_total Tokens decoded by the runtime.\n# TYPE kairos:decode_tokens_total counter\n"
         "kairos:decode_tokens_total " + std::to_string(st.decode_tokens) + "\n";
  out += "# HELP kairos:kv_cache_usage_ratio KV blocks in use per device.\n# TYPE kairos:kv_cache_usage_ratio gauge\n";
  std::string free_b = "# HELP kairos:kv_free_blocks Free KV blocks per device.\n# TYPE kairos:kv_free_blocks gauge\n";
  std::string alive = "# HELP kairos:device_up 1 while a device is alive.\n# TYPE kairos:device_up gauge\n";
  std::string batches = "# HELP kairos:device_batches_total Batches run per device.\n# TYPE kairos:device_batches_total counter\n";
  for (const auto& d : st.devices) {
    const std::string lbl = "{device=\"" + d.name + "\",group=\"" + d.group + "\"}";
    const double used = d.kv_total_blocks > 0 ? 1.0 - double(d.kv_free_blocks) / d.kv_total_blocks : 0.0;
    out += "kairos:kv_cache_usage_ratio" + lbl + " " + num(used) + "\n";
    free_b += "kairos:kv_free_blocks" + lbl + " " + std::to_string(d.kv_free_blocks) + "\n";
    alive += "kairos:device_up" + lbl + " " + (d.alive ? "1" : "0") + "\n";
    batches += "kairos:device_batches_total" + lbl + " " + std::to_string(d.batches) + "\n";
  }
  out += free_b + alive + batches;
  return out;
}

bool keys_equal(const std::string& presented, const std::string& expected) {
  // Runs over the expected key's length whatever the presented one is.
  volatile unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char a = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    diff = static_cast<unsigned char>(diff | (a ^ static_cast<unsigned char>(expected[i])));
  }
  return diff == 0;
}

namespace {

std::vector<std::string> split_protocols(const std::string& header) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= header.size()) {
    size_t j = header.find(',', i);
    if (j == std::string::npos) j = header.size();
    size_t a = i, b = j;
    while (a < b && (header[a] == ' ' || header[a] == '\t')) ++a;
    while (b > a && (header[b - 1] == ' ' || header[b - 1] == '\t')) --b;
    if (b > a) out.push_back(header.substr(a, b - a));
    i = j + 1;
  }
  return out;
}

// RFC 4648 section 5, without padding; nullopt on any other character.
std::optional<std::string> base64url_decode(const std::string& in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int v;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
    else if (ch == '-') v = 62;
    else if (ch == '_') v = 63;
    else return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xFF));
    }
  }
  if (in.size() % 4 == 1) return std::nullopt;  // no whole byte in the last group
  return out;
}

}  // namespace

std::optional<std::string> bearer_from_subprotocols(const std::string& header) {
  static const std::string prefix = "kairos.bearer.";
  for (const auto& p : split_protocols(header))
    if (p.rfind(prefix, 0) == 0) return base64url_decode(p.substr(prefix.size()));
  return std::nullopt;
}

bool offers_subprotocol(const std::string& header, const std::string& name) {
  for (const auto& p : split_protocols(header))
    if (p == name) return true;
  return false;
}

std::string trace_path_problem(const std::string& path) {
  if (path.empty()) return "path is empty";
  if (path.front() == '/') return "path must be relative to the server's working directory";
  if (path.find('\0') != std::string::npos) return "path contains a NUL byte";
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    if (path.compare(start, end - start, "..") == 0 && end - start == 2) return "path must not contain '..'";
    start = end + 1;
  }
  if (path.back() == '/') return "path names a directory";
  return "";
}

}  // namespace kairos::http

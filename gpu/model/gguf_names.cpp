// llama.cpp tensor names <-> Hugging Face names for llama and qwen2.
#include <cstdlib>
#include <string_view>

#include "gpu/model/gguf_model.hpp"

namespace kairos {

namespace {

struct name_pair {
  const char* gguf;
  const char* hf;
};

// Per-layer parts; GGUF "blk.N.<gguf>.<suffix>" <-> HF "model.layers.N.<hf>.<suffix>".
constexpr name_pair layer_parts[] = {
    {"attn_norm", "input_layernorm"},     {"attn_q", "self_attn.q_proj"},   {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},       {"attn_output", "self_attn.o_proj"}, {"ffn_norm", "post_attention_layernorm"},
    {"ffn_gate", "mlp.gate_proj"},        {"ffn_up", "mlp.up_proj"},        {"ffn_down", "mlp.down_proj"},
};

constexpr name_pair global_names[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

// Splits "<prefix><N>.<rest>" into N and rest; false if it does not match.
bool split_layer(std::string_view name, std::string_view prefix, std::string& layer, std::string_view& rest) {
  if (name.substr(0, prefix.size()) != prefix) return false;
  name.remove_prefix(prefix.size());
  auto dot = name.find('.');
  if (dot == 0 || dot == std::string_view::npos) return false;
  for (char c : name.substr(0, dot))
    if (c < '0' || c > '9') return false;
  layer = std::string(name.substr(0, dot));
  rest = name.substr(dot + 1);
  return true;
}

// Maps "<part>.weight|bias" through the table, from one side to the other.
std::string map_part(std::string_view rest, bool to_hf) {
  for (const auto& p : layer_parts) {
    std::string_view from = to_hf ? p.gguf : p.hf;
    if (rest.size() > from.size() && rest.substr(0, from.size()) == from && rest[from.size()] == '.') {
      std::string_view suffix = rest.substr(from.size() + 1);
      if (suffix != "weight" && suffix != "bias") return "";
      return std::string(to_hf ? p.hf : p.gguf) + "." + std::string(suffix);
    }
  }
  return "";
}

}  // namespace

std::string gguf_to_hf_name(const std::string& gguf_name) {
  for (const auto& g : global_names)
    if (gguf_name == g.gguf) return g.hf;
  std::string layer;
  std::string_view rest;
  if (!split_layer(gguf_name, "blk.", layer, rest)) return "";
  std::string part = map_part(rest, true);
  return part.empty() ? "" : "model.layers." + layer + "." + part;
}

std::string hf_to_gguf_name(const std::string& hf_name) {
  for (const auto& g : global_names)
    if (hf_name == g.hf) return g.gguf;
  std::string layer;
  std::string_view rest;
  if (!split_layer(hf_name, "model.layers.", layer, rest)) return "";
  std::string part = map_part(rest, false);
  return part.empty() ? "" : "blk." + layer + "." + part;
}

}  // namespace kairos

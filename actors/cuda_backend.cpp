#include "actors/cuda_backend.hpp"

#ifdef KAIROS_HAVE_CUDA

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "gpu/cuda/cuda_check.hpp"
#include "gpu/cuda/cuda_engine.hpp"

namespace kairos {

namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Staging buffers come from the device's stream-ordered pool: a cudaFree
// would synchronise the whole device, stalling the other engine when
// prefill and decode share a GPU. The pool keeps what it has (threshold
// raised once per device) so steady-state hand-offs do not map memory.
status keep_pool_memory(int gpu) {
  cudaMemPool_t pool = nullptr;
  KAIROS_CUDA_TRY(cudaDeviceGetDefaultMemPool(&pool, gpu));
  std::uint64_t keep = UINT64_MAX;
  KAIROS_CUDA_TRY(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  return {};
}

}  // namespace

// A sequence's KV packed on one GPU (cuda_engine's export layout). Whoever
// drops the last handle frees it, from any thread: the free is stream
// ordered on that thread's per-thread stream, which neither waits for the
// engines' non-blocking streams nor trips a graph capture in progress on
// them (the legacy stream might). Every copy that reads or writes it has
// completed by then (exporter and importer synchronise before they return).
struct device_kv {
  int gpu = 0;
  void* p = nullptr;
  std::size_t bytes = 0;
  device_kv() = default;
  device_kv(const device_kv&) = delete;
  device_kv& operator=(const device_kv&) = delete;
  ~device_kv() {
    if (!p) return;
    int cur = 0;
    if (cudaGetDevice(&cur) != cudaSuccess) cur = gpu;
    cudaSetDevice(gpu);
    cudaFreeAsync(p, cudaStreamPerThread);
    cudaSetDevice(cur);
  }
};

bool cuda_compiled_in() { return true; }

status cuda_device_usable(int gpu) {
  int n = 0;
  if (cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess || n == 0) {
    const std::string why = e != cudaSuccess ? std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e)
                                             : std::string("no devices");
    cudaGetLastError();  // a failed query leaves a sticky error for the next call otherwise
    return make_error("backend cuda: no usable CUDA GPU on this machine (" + why + ")");
  }
  if (gpu < 0 || gpu >= n)
    return make_error("backend cuda: gpu " + std::to_string(gpu) + " not present (this machine has " +
                      std::to_string(n) + ")");
  return {};
}

cuda_backend::cuda_backend(std::unique_ptr<cuda::cuda_engine> engine) : engine_(std::move(engine)) {}

cuda_backend::~cuda_backend() {
  // The engine frees its buffers and stream; do it with its device current,
  // whichever thread ends the actor.
  if (engine_) cudaSetDevice(engine_->options().device);
}

int cuda_backend::kv_free_blocks() const { return engine_->kv_table().n_free(); }
int cuda_backend::kv_total_blocks() const { return engine_->kv_table().n_blocks(); }
int cuda_backend::block_size() const { return engine_->kv_table().block_size(); }
int cuda_backend::gpu() const { return engine_->options().device; }

// A CAF worker thread may have another device current (or none yet): every
// entry point sets the engine's own.
status cuda_backend::use_device() const {
  KAIROS_CUDA_TRY(cudaSetDevice(engine_->options().device));
  return {};
}

result<std::shared_ptr<seq_handoff>> cuda_backend::export_seq(int64_t seq) {
  const int n = engine_->kv_table().n_tokens(seq);
  if (n <= 0) return make_error("KV export of sequence " + std::to_string(seq) + ": not resident");
  auto kv = std::make_shared<device_kv>();
  kv->gpu = gpu();
  kv->bytes = engine_->kv_packed_bytes(n);
  KAIROS_CUDA_TRY(cudaMallocAsync(&kv->p, kv->bytes, engine_->stream()));
  if (auto s = engine_->export_sequence(seq, kv->p); !s) return s.err();
  auto h = std::make_shared<seq_handoff>();
  h->n_tokens = n;
  h->device = std::move(kv);
  if (auto it = params_.find(seq); it != params_.end()) {
    h->smp = sampler(it->second);
    params_.erase(it);
  }
  // The blocks go back now: work enqueued later on this stream (a forward,
  // an import reusing them) runs after the copy.
  engine_->free_sequence(seq);
  return h;
}

status cuda_backend::import_seq(int64_t seq, const seq_handoff& h) {
  if (!h.device)
    return make_error("sequence " + std::to_string(seq) +
                      " arrived without device KV (cuda devices exchange KV with cuda devices only)");
  const auto& kv = *h.device;
  if (kv.bytes != engine_->kv_packed_bytes(h.n_tokens))
    return make_error("KV import of sequence " + std::to_string(seq) + ": " + std::to_string(kv.bytes) +
                      " bytes for " + std::to_string(h.n_tokens) + " tokens, this engine packs " +
                      std::to_string(engine_->kv_packed_bytes(h.n_tokens)) + " (different model or block size?)");
  const void* src = kv.p;
  void* tmp = nullptr;
  cudaStream_t st = engine_->stream();
  if (kv.gpu != gpu()) {
    // Another GPU: one contiguous peer copy into a local buffer, then the
    // same local scatter as on one GPU. Pool allocations are visible to
    // other devices only through cudaMemPoolSetAccess (peer access enabled
    // on the context does not cover them), granted once per source GPU
    // where the pair supports it; otherwise the copy engine goes through
    // the host and the copy itself reports any failure.
    if (std::find(peers_granted_.begin(), peers_granted_.end(), kv.gpu) == peers_granted_.end()) {
      int can = 0;
      if (cudaDeviceCanAccessPeer(&can, gpu(), kv.gpu) == cudaSuccess && can) {
        cudaMemPool_t pool = nullptr;
        KAIROS_CUDA_TRY(cudaDeviceGetDefaultMemPool(&pool, kv.gpu));
        cudaMemAccessDesc desc{};
        desc.location.type = cudaMemLocationTypeDevice;
        desc.location.id = gpu();
        desc.flags = cudaMemAccessFlagsProtReadWrite;
        KAIROS_CUDA_TRY(cudaMemPoolSetAccess(pool, &desc, 1));
      }
      peers_granted_.push_back(kv.gpu);
    }
    KAIROS_CUDA_TRY(cudaMallocAsync(&tmp, kv.bytes, st));
    KAIROS_CUDA_TRY(cudaMemcpyPeerAsync(tmp, gpu(), kv.p, kv.gpu, kv.bytes, st));
    src = tmp;
  }
  std::string why;
  const auto fs = engine_->import_sequence(seq, h.n_tokens, src, &why);
  if (tmp) KAIROS_CUDA_TRY(cudaFreeAsync(tmp, st));
  if (fs != forward_status::ok)
    return make_error("KV import of sequence " + std::to_string(seq) + " (" + std::to_string(h.n_tokens) +
                      " tokens): " + why);
  params_.insert_or_assign(seq, h.smp.params());
  return {};
}

// Draws one token per logits row of the last forward, on the device. The
// counter is the position the token will take, so a sequence gets a fresh,
// reproducible draw per step whatever is batched beside it and wherever it
// was moved.
status cuda_backend::sample_last(std::span<const int64_t> seqs, std::vector<int32_t>& tokens) {
  std::vector<cuda::kernels::sample_row> rows(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto it = params_.find(seqs[i]);
    const sampling_params sp = it != params_.end() ? it->second : sampling_params{};
    rows[i].temperature = sp.temperature;
    rows[i].top_k = sp.top_k;
    rows[i].top_p = sp.top_p;
    rows[i].seed = sp.seed;
    rows[i].counter = std::uint64_t(engine_->kv_table().n_tokens(seqs[i]));
  }
  auto drawn = engine_->sample(rows);
  if (!drawn) return drawn.err();
  tokens.insert(tokens.end(), drawn->begin(), drawn->end());
  return {};
}

status cuda_backend::prefill(std::span<const prefill_work> batch, std::vector<prefill_output>& out, double& seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  out.clear();
  if (auto s = use_device(); !s) return s;
  batch_.clear();
  seqs_.clear();
  for (const auto& w : batch) {
    if (!w.prompt || w.prompt->empty()) return make_error("prefill of sequence " + std::to_string(w.seq) + ": empty prompt");
    batch_.push_back({w.seq, std::span<const int32_t>(*w.prompt), true});
    seqs_.push_back(w.seq);
  }
  // No logits copy to the host: sample() reads them on the device, ordered
  // after the forward on the engine's stream.
  auto res = engine_->forward_async(batch_);
  if (res.status != forward_status::ok) return make_error("prefill forward: " + res.message);
  for (const auto& w : batch) params_.insert_or_assign(w.seq, w.sampling);
  step_tokens_.clear();
  if (auto s = sample_last(seqs_, step_tokens_); !s) return s;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto h = export_seq(batch[i].seq);
    if (!h) return h.err();
    out.push_back({batch[i].seq, step_tokens_[i], std::move(h.value())});
  }
  // The packed KV must be complete before another device's stream reads it.
  if (auto s = engine_->synchronize(); !s) return s;
  seconds = since(t0);
  return {};
}

status cuda_backend::step(std::span<const int64_t> evict, std::span<const step_load> load,
                          std::span<const step_work> run, std::vector<std::shared_ptr<seq_handoff>>& evicted,
                          std::vector<int32_t>& tokens, double& seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  evicted.clear();
  tokens.clear();
  if (auto s = use_device(); !s) return s;
  for (int64_t s : evict) {
    auto h = export_seq(s);
    if (!h) return h.err();
    h.value()->swapped = true;
    evicted.push_back(std::move(h.value()));
  }
  for (const auto& l : load) {
    if (!l.kv) return make_error("load of sequence " + std::to_string(l.seq) + " without a hand-off");
    if (auto s = import_seq(l.seq, *l.kv); !s) return s;
  }
  if (!run.empty()) {
    batch_.clear();
    seqs_.clear();
    step_tokens_.resize(run.size());
    for (size_t i = 0; i < run.size(); ++i) {
      step_tokens_[i] = run[i].last_token;
      batch_.push_back({run[i].seq, std::span<const int32_t>(&step_tokens_[i], 1), true});
      seqs_.push_back(run[i].seq);
    }
    auto res = engine_->forward_async(batch_);
    if (res.status != forward_status::ok) return make_error("decode forward: " + res.message);
    if (auto s = sample_last(seqs_, tokens); !s) return s;
  }
  // Evicted KV must be complete before anyone reads it, and the hand-offs
  // just loaded may be dropped (and their memory freed) once we return.
  if (auto s = engine_->synchronize(); !s) return s;
  seconds = since(t0);
  return {};
}

void cuda_backend::free(std::span<const int64_t> seqs) {
  for (int64_t s : seqs) {
    engine_->free_sequence(s);
    params_.erase(s);
  }
}

result<std::shared_ptr<device_backend>> make_cuda_backend(const std::string& device_name, const model_config* host_config,
                                                          const tensor_store* host, const std::string& random_shape,
                                                          std::uint64_t seed, const cuda_device_options& opts) {
  auto fail = [&](const std::string& why) { return make_error("device " + device_name + ": " + why); };
  if (auto s = cuda_device_usable(opts.gpu); !s) return fail(s.message());
  if (auto s = keep_pool_memory(opts.gpu); !s) return fail(s.message());
  cuda::cuda_engine_options eo;
  eo.device = opts.gpu;
  eo.block_size = opts.block_size;
  eo.max_seq_len = opts.max_seq_len;
  eo.kv_tokens = opts.kv_tokens;
  eo.max_batch_tokens = opts.max_batch_tokens;
  eo.max_logit_rows = opts.max_logit_rows;
  eo.cuda_graphs = opts.cuda_graphs;
  auto e = host ? cuda::cuda_engine::create(*host_config, *host, eo) : cuda::make_random_cuda_engine(random_shape, seed, eo);
  if (!e) return fail(e.message());
  return std::shared_ptr<device_backend>(std::make_shared<cuda_backend>(std::move(e.value())));
}

}  // namespace kairos

#else  // built without CUDA: the backend exists only as a clear error

namespace kairos {

bool cuda_compiled_in() { return false; }

status cuda_device_usable(int) {
  return make_error("backend cuda: this kairos was built without CUDA (configure with nvcc available, "
                    "KAIROS_ENABLE_CUDA=ON)");
}

result<std::shared_ptr<device_backend>> make_cuda_backend(const std::string& device_name, const model_config*,
                                                          const tensor_store*, const std::string&, std::uint64_t,
                                                          const cuda_device_options& opts) {
  return make_error("device " + device_name + ": " + cuda_device_usable(opts.gpu).message());
}

}  // namespace kairos

#endif

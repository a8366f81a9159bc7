// Small-GEMM libraries at the shapes gift multiplies (issue 9): Eigen (what gift uses), OpenBLAS
// (Debian's pthread build limited to 1 thread, linked; and its serial build, loaded with dlopen
// since both export the same names), BLIS (serial build, native typed API), libxsmm (JIT kernels,
// explicit dispatch) and oneDNN (dnnl_sgemm and the matmul primitive), each on ONE thread: gift's
// own threads each multiply their own block, so no library may start threads of its own.
//
// Row-major, as gift stores matrices (a batch is B x I, weights O x I, y = x Wᵀ). For the default
// network 784-256-128-64-32-10, batch 128 cut into 64-row blocks, per layer (I, O):
//   fwd   Z (64 x O) = H (64 x I) · Wᵀ
//   dH    dH (64 x I) = dU (64 x O) · W                   (not for layer 0)
//   dW    dW (O x I) += dUᵀ (O x 128) · H (128 x I)      (the whole batch stacked)
//   mc    Z (256 x O) = H (256 x I) · Wᵀ                  (Monte-Carlo inference)
// A training step is fwd and dH on both blocks and dW once, every layer; it is timed as one
// sequence, and a second time with dW cut into gift's 32-output-row tasks (kGradRows: M = 32,
// A = 32 columns of dU, lda = O) as src/train/engine.cc runs it.
//
// Before timing, every library's result for every shape is checked against a double reference
// (||C - R||_F / ||R||_F < 1e-5; exits 1 otherwise). After timing it reports whether each
// library is bitwise reproducible: the same inputs twice, on 2 OpenMP threads at once (other
// output buffers, ~15 ms of calls per shape) and with OpenMP allowing 2 threads, against the
// first single-thread result. (Debian's serial OpenBLAS 0.3.21 fails the 2-thread test: a few
// calls in a thousand return a wrong product when another thread calls it at the same time.)
//
// Usage: gemm_compare [trial_ms (default 6)] [trials (default 5)]
//   Each shape is timed in `trials` rounds of about trial_ms per library, the libraries taking
//   turns within a round; the best round counts. Prints a markdown table on stdout (GFLOP/s =
//   2 M N K / time), everything else on stderr. bench/gemm_compare.sh installs, builds and runs.
#include <blis.h>  // also declares the CBLAS interface; cblas_sgemm must bind to OpenBLAS
#include <dlfcn.h>
#include <libxsmm.h>
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <string>
#include <vector>

extern "C" {
// OpenBLAS's own entry points (its cblas.h is not included: blis.h declares the CBLAS ones).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
char* openblas_get_corename(void);
}

namespace {

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapC = Eigen::Map<const Mat, 0, Eigen::OuterStride<>>;
using Map = Eigen::Map<Mat, 0, Eigen::OuterStride<>>;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "gemm_compare: %s\n", what.c_str());
  std::exit(1);
}

// One product in row-major terms: C (M x N) = op(A) op(B) + beta C, op = transpose when ta/tb.
// A is stored M x K (K x M when ta) with row stride lda; B K x N (N x K when tb), ldb; C ldc.
struct Gemm {
  bool ta, tb;
  int M, N, K;
  float beta;  // 0 or 1
  int lda, ldb, ldc;
  double flop() const { return 2.0 * M * N * K; }
  size_t a_size() const { return static_cast<size_t>(ta ? K : M) * lda; }
  size_t b_size() const { return static_cast<size_t>(tb ? N : K) * ldb; }
  size_t c_size() const { return static_cast<size_t>(M) * ldc; }
};

Gemm forward(int rows, int I, int O) { return {false, true, rows, O, I, 0.0f, I, I, O}; }
Gemm input_grad(int rows, int I, int O) { return {false, false, rows, I, O, 0.0f, O, I, I}; }
Gemm weight_grad(int batch, int I, int O, int o_rows = 0) {
  const int M = o_rows > 0 ? o_rows : O;
  return {true, false, M, I, batch, 1.0f, O, I, I};
}

using Kernel = std::function<void(const float* a, const float* b, float* c)>;

struct Library {
  std::string name;
  std::function<Kernel(const Gemm&)> make_raw;
  // Multiplies the forward by a copy of Wᵀ made once per step (and timed there) instead of by
  // W transposed: the product is then B untransposed, K x N with ldb = N.
  bool wt_once = false;
  Gemm as_called(const Gemm& g) const {
    return wt_once && g.tb ? Gemm{g.ta, false, g.M, g.N, g.K, g.beta, g.lda, g.N, g.ldc} : g;
  }
  Kernel make(const Gemm& g) const { return make_raw(as_called(g)); }  // per shape and thread
};

// Row-major B (rows x cols, ld) into out (cols x rows, ld rows), with libxsmm's transpose.
void transpose(float* out, const float* b, int rows, int cols, int ld) {
  libxsmm_otrans(out, b, sizeof(float), cols, rows, ld, rows);
}

// ---- the libraries -------------------------------------------------------------------------

Kernel eigen_kernel(const Gemm& g) {
  // The same expressions as src/onn/forward.cc (h * W.transpose(), du * W, dW += duᵀ * h).
  return [g](const float* a, const float* b, float* c) {
    const MapC A(a, g.ta ? g.K : g.M, g.ta ? g.M : g.K, Eigen::OuterStride<>(g.lda));
    const MapC B(b, g.tb ? g.N : g.K, g.tb ? g.K : g.N, Eigen::OuterStride<>(g.ldb));
    Map C(c, g.M, g.N, Eigen::OuterStride<>(g.ldc));
    if (g.ta && !g.tb) {
      if (g.beta == 0.0f)
        C.noalias() = A.transpose() * B;
      else
        C.noalias() += A.transpose() * B;
    } else if (!g.ta && g.tb) {
      if (g.beta == 0.0f)
        C.noalias() = A * B.transpose();
      else
        C.noalias() += A * B.transpose();
    } else if (!g.ta && !g.tb) {
      if (g.beta == 0.0f)
        C.noalias() = A * B;
      else
        C.noalias() += A * B;
    } else {
      die("eigen: both transposed is not a gift shape");
    }
  };
}

Kernel openblas_kernel(const Gemm& g) {
  return [g](const float* a, const float* b, float* c) {
    cblas_sgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans,
                g.M, g.N, g.K, 1.0f, a, g.lda, b, g.ldb, g.beta, c, g.ldc);
  };
}

// The serial OpenBLAS, loaded privately (RTLD_LOCAL | RTLD_DEEPBIND: its own symbols first) next
// to the linked pthread one; nullptr where it is not installed (libopenblas0-serial).
using CblasSgemm = decltype(&cblas_sgemm);
CblasSgemm serial_sgemm = nullptr;
std::string serial_openblas_info = "not installed";

void load_serial_openblas() {
#ifdef GIFT_OPENBLAS_SERIAL_SO
  void* h = dlopen(GIFT_OPENBLAS_SERIAL_SO, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) {
    serial_openblas_info = std::string("dlopen failed: ") + dlerror();
    return;
  }
  serial_sgemm = reinterpret_cast<CblasSgemm>(dlsym(h, "cblas_sgemm"));
  const auto corename = reinterpret_cast<char* (*)()>(dlsym(h, "openblas_get_corename"));
  const auto config = reinterpret_cast<char* (*)()>(dlsym(h, "openblas_get_config"));
  serial_openblas_info = std::string(GIFT_OPENBLAS_SERIAL_SO) + ": " + (config ? config() : "?") +
                         "; core " + (corename ? corename() : "?");
#endif
}

Kernel openblas_serial_kernel(const Gemm& g) {
  if (!serial_sgemm) return nullptr;
  return [g](const float* a, const float* b, float* c) {
    serial_sgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans,
                 g.M, g.N, g.K, 1.0f, a, g.lda, b, g.ldb, g.beta, c, g.ldc);
  };
}

Kernel blis_kernel(const Gemm& g) {
  // Typed API with general strides: row-major is row stride ld, column stride 1.
  return [g](const float* a, const float* b, float* c) {
    float one = 1.0f, beta = g.beta;
    bli_sgemm(g.ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, g.tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
              g.M, g.N, g.K, &one, const_cast<float*>(a), g.lda, 1, const_cast<float*>(b), g.ldb, 1,
              &beta, c, g.ldc, 1);
  };
}

Kernel libxsmm_kernel(const Gemm& g) {
  // libxsmm is column-major: row-major C = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ, i.e.
  // m = N, n = M, A' = B (transposed when tb), B' = A (transposed when ta). libxsmm 1.17's JIT
  // has no transposed A', so when tb (the forward's Wᵀ) each call first transposes B into a
  // scratch copy (libxsmm_otrans, counted in the time) and multiplies that untransposed.
  const libxsmm_blasint m = g.N, n = g.M, k = g.K, lda = g.tb ? g.N : g.ldb, ldb = g.lda,
                        ldc = g.ldc;
  const float alpha = 1.0f, beta = g.beta;
  const int flags = g.ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0;
  const int prefetch = LIBXSMM_PREFETCH_NONE;
  const libxsmm_smmfunction f =
      libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
  if (!f) return nullptr;  // no JIT kernel for this shape: reported by the caller
  if (!g.tb) return [f](const float* a, const float* b, float* c) { f(b, a, c); };
  auto bt = std::make_shared<std::vector<float>>(static_cast<size_t>(g.K) * g.N);
  return [f, bt, g](const float* a, const float* b, float* c) {
    transpose(bt->data(), b, g.N, g.K, g.ldb);  // B (N x K) into Bᵀ (K x N, ld N)
    f(bt->data(), a, c);
  };
}

Kernel dnnl_sgemm_kernel(const Gemm& g) {
  return [g](const float* a, const float* b, float* c) {
    if (dnnl_sgemm(g.ta ? 'T' : 'N', g.tb ? 'T' : 'N', g.M, g.N, g.K, 1.0f, a, g.lda, b, g.ldb,
                   g.beta, c, g.ldc) != dnnl_success) {
      die("dnnl_sgemm failed");
    }
  };
}

// The matmul primitive, created once per shape (as gift would, at the first step) on plain
// strided layouts (gift's weights change every step, so no reordered "any" layout).
struct DnnlMatmul {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  dnnl::matmul prim;
  dnnl::memory a, b, c;
  std::string impl;
};

std::string dnnl_impl_seen;  // the implementations the primitives chose

Kernel dnnl_matmul_kernel(const Gemm& g) {
  using dt = dnnl::memory::data_type;
  auto s = std::make_shared<DnnlMatmul>();
  const dnnl::memory::dims a_strides =
      g.ta ? dnnl::memory::dims{1, g.lda} : dnnl::memory::dims{g.lda, 1};
  const dnnl::memory::dims b_strides =
      g.tb ? dnnl::memory::dims{1, g.ldb} : dnnl::memory::dims{g.ldb, 1};
  const dnnl::memory::desc ad({g.M, g.K}, dt::f32, a_strides), bd({g.K, g.N}, dt::f32, b_strides),
      cd({g.M, g.N}, dt::f32, dnnl::memory::dims{g.ldc, 1});
  dnnl::primitive_attr attr;
  if (g.beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(ad, bd, cd), attr, s->engine);
  s->impl = pd.impl_info_str();
#pragma omp critical(gemm_compare_impl)
  if (dnnl_impl_seen.find(s->impl) == std::string::npos) {
    dnnl_impl_seen += (dnnl_impl_seen.empty() ? "" : ", ") + s->impl;
  }
  s->prim = dnnl::matmul(pd);
  s->a = dnnl::memory(ad, s->engine, DNNL_MEMORY_NONE);
  s->b = dnnl::memory(bd, s->engine, DNNL_MEMORY_NONE);
  s->c = dnnl::memory(cd, s->engine, DNNL_MEMORY_NONE);
  return [s](const float* a, const float* b, float* c) {
    s->a.set_data_handle(const_cast<float*>(a));
    s->b.set_data_handle(const_cast<float*>(b));
    s->c.set_data_handle(c);
    s->prim.execute(s->stream,
                    {{DNNL_ARG_SRC, s->a}, {DNNL_ARG_WEIGHTS, s->b}, {DNNL_ARG_DST, s->c}});
    s->stream.wait();
  };
}

// ---- buffers, reference, timing --------------------------------------------------------------

struct Buf {
  std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
  size_t n = 0;
  explicit Buf(size_t count = 0) : n(count) {
    if (count == 0) return;
    const size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    p.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!p) die("out of memory");
  }
  float* data() const { return p.get(); }
};

Buf random_buf(size_t n, uint32_t seed) {
  Buf b(n);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) b.data()[i] = u(rng);
  return b;
}

// Operands of one shape: A, B, Bᵀ (when tb) and C's initial value (used when beta = 1).
struct Operands {
  Buf a, b, bt, c0;
  Operands(const Gemm& g, uint32_t seed)
      : a(random_buf(g.a_size(), seed)),
        b(random_buf(g.b_size(), seed + 1)),
        bt(g.tb ? static_cast<size_t>(g.K) * g.N : 0),
        c0(random_buf(g.c_size(), seed + 2)) {
    if (g.tb) transpose(bt.data(), b.data(), g.N, g.K, g.ldb);
  }
  const float* b_for(const Library& lib, const Gemm& g) const {
    return lib.wt_once && g.tb ? bt.data() : b.data();
  }
};

void run_from_c0(const Library& lib, const Kernel& k, const Gemm& g, const Operands& op, float* c) {
  if (g.beta != 0.0f) {
    std::memcpy(c, op.c0.data(), g.c_size() * sizeof(float));
  } else {
    std::fill(c, c + g.c_size(), std::nanf(""));  // beta = 0 must overwrite everything
  }
  k(op.a.data(), op.b_for(lib, g), c);
}

double relative_error(const Gemm& g, const Operands& op, const float* c) {
  double num = 0, den = 0;
  for (int i = 0; i < g.M; ++i) {
    for (int j = 0; j < g.N; ++j) {
      double r = g.beta != 0.0f ? op.c0.data()[static_cast<size_t>(i) * g.ldc + j] : 0.0;
      for (int p = 0; p < g.K; ++p) {
        const float a = g.ta ? op.a.data()[static_cast<size_t>(p) * g.lda + i]
                             : op.a.data()[static_cast<size_t>(i) * g.lda + p];
        const float b = g.tb ? op.b.data()[static_cast<size_t>(j) * g.ldb + p]
                             : op.b.data()[static_cast<size_t>(p) * g.ldb + j];
        r += static_cast<double>(a) * b;
      }
      const double d = c[static_cast<size_t>(i) * g.ldc + j] - r;
      num += d * d;
      den += r * r;
      if (std::isnan(d)) return NAN;
    }
  }
  return std::sqrt(num / den);
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int threads_of_process() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return -1;
}

// Seconds per call of `body` over one round of about `seconds`; reps is calibrated once.
double round_time(const std::function<void()>& body, long& reps, double seconds) {
  if (reps == 0) {
    reps = 1;
    for (;;) {
      const double t0 = now();
      for (long r = 0; r < reps; ++r) body();
      const double t = now() - t0;
      if (t > seconds / 4) {
        reps = std::max(1L, static_cast<long>(reps * seconds / t));
        break;
      }
      reps *= 4;
    }
  }
  const double t0 = now();
  for (long r = 0; r < reps; ++r) body();
  return (now() - t0) / static_cast<double>(reps);
}

struct Case {
  std::string name;
  Gemm g;
  int per_step;  // calls in one training step (0: Monte-Carlo inference)
};

std::string dims(const Gemm& g) {
  return std::to_string(g.M) + "x" + std::to_string(g.N) + "x" + std::to_string(g.K);
}

// The default network's buffers for one step: per layer W (O x I), the layer input H and the
// output gradient dU of the whole batch, and the outputs Z, dH, dW.
struct Net {
  std::vector<int> sizes;
  int batch;
  std::vector<std::vector<float>> w, wt, h, z, du, dh, dw;
  Net(const std::vector<int>& s, int b) : sizes(s), batch(b) {
    for (size_t l = 0; l + 1 < s.size(); ++l) {
      const size_t I = s[l], O = s[l + 1];
      const auto rnd = [](size_t n, uint32_t seed) {
        const Buf r = random_buf(n, seed);
        return std::vector<float>(r.data(), r.data() + n);
      };
      w.push_back(rnd(O * I, 50 + l));
      wt.emplace_back(I * O, 0.0f);
      h.push_back(rnd(b * I, 60 + l));
      du.push_back(rnd(b * O, 70 + l));
      z.emplace_back(b * O, 0.0f);
      dh.emplace_back(b * I, 0.0f);
      dw.emplace_back(O * I, 0.0f);
    }
  }
};

// One training step of `net` with `lib`'s kernels (created here, as gift would at its first
// step): the forward of both 64-row blocks through every layer, then from the last layer back,
// dH of both blocks (not for layer 0) and dW, whole or in tasks of `grad_rows` output rows.
// With lib.wt_once, the step starts with a Wᵀ copy of every layer, which the forward uses.
std::function<void()> make_step(const Library& lib, Net& net, int grad_rows) {
  constexpr int block = 64;
  struct LayerKernels {
    Kernel fwd, dh;
    std::vector<std::pair<Kernel, int>> dw;  // kernel, first output row
  };
  auto ks = std::make_shared<std::vector<LayerKernels>>();
  const int L = static_cast<int>(net.sizes.size()) - 1;
  for (int l = 0; l < L; ++l) {
    const int I = net.sizes[l], O = net.sizes[l + 1];
    LayerKernels k{
        lib.make(forward(block, I, O)), l > 0 ? lib.make(input_grad(block, I, O)) : nullptr, {}};
    const int task_rows = grad_rows > 0 ? grad_rows : O;
    for (int o = 0; o < O; o += task_rows) {
      k.dw.push_back({lib.make(weight_grad(net.batch, I, O, std::min(task_rows, O - o))), o});
    }
    ks->push_back(std::move(k));
  }
  const bool wt_once = lib.wt_once;
  return [ks, &net, L, wt_once] {
    for (int l = 0; l < L; ++l) {
      const size_t I = net.sizes[l], O = net.sizes[l + 1];
      if (wt_once) transpose(net.wt[l].data(), net.w[l].data(), O, I, I);
      const float* w = wt_once ? net.wt[l].data() : net.w[l].data();
      for (int r = 0; r * block < net.batch; ++r) {
        (*ks)[l].fwd(net.h[l].data() + r * block * I, w, net.z[l].data() + r * block * O);
      }
    }
    for (int l = L - 1; l >= 0; --l) {
      const size_t I = net.sizes[l], O = net.sizes[l + 1];
      if (l > 0) {
        for (int r = 0; r * block < net.batch; ++r) {
          (*ks)[l].dh(net.du[l].data() + r * block * O, net.w[l].data(),
                      net.dh[l].data() + r * block * I);
        }
      }
      for (const auto& [k, o] : (*ks)[l].dw) {
        k(net.du[l].data() + o, net.h[l].data(), net.dw[l].data() + o * I);
      }
    }
  };
}

}  // namespace

int main(int argc, char** argv) {
  const double trial_s = (argc > 1 ? std::atof(argv[1]) : 6.0) / 1000.0;
  const int trials = argc > 2 ? std::atoi(argv[2]) : 5;
  if (!(trial_s > 0) || trials < 1) die("usage: gemm_compare [trial_ms > 0] [trials >= 1]");

  // One thread per library call, whatever the environment says.
  omp_set_num_threads(1);         // oneDNN's OpenMP runtime (and Eigen, were it parallel)
  openblas_set_num_threads(1);    // the pthread build (run it with OPENBLAS_NUM_THREADS=1
                                  // too, or it starts its threads when it loads)
  bli_thread_set_num_threads(1);  // the serial build has no threads anyway
  libxsmm_init();

  // OpenBLAS and BLIS both export cblas_sgemm: make sure the linked one is OpenBLAS's.
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&cblas_sgemm), &info) || !info.dli_fname ||
      !std::strstr(info.dli_fname, "openblas")) {
    die(std::string("cblas_sgemm does not come from OpenBLAS but from ") +
        (info.dli_fname ? info.dli_fname : "?") + ": link OpenBLAS before BLIS");
  }
  load_serial_openblas();
  std::fprintf(stderr, "OpenBLAS serial build: %s\n", serial_openblas_info.c_str());
  const dnnl_version_t* dv = dnnl_version();
  std::fprintf(stderr, "Eigen %d.%d.%d (SIMD %s)\n", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION,
               EIGEN_MINOR_VERSION, Eigen::SimdInstructionSetsInUse());
  std::fprintf(stderr, "OpenBLAS %s; core %s; threads %d; cblas_sgemm from %s\n",
               openblas_get_config(), openblas_get_corename(), openblas_get_num_threads(),
               info.dli_fname);
  std::fprintf(stderr, "BLIS %s; arch %s; threading %s\n", bli_info_get_version_str(),
               bli_arch_string(bli_arch_query_id()),
               bli_info_get_enable_threading() ? "enabled" : "none (serial build)");
  std::fprintf(stderr, "libxsmm %s; JIT target %s\n", LIBXSMM_VERSION, libxsmm_get_target_arch());
  std::fprintf(stderr, "oneDNN %d.%d.%d; CPU runtime %s; OpenMP max threads %d\n", dv->major,
               dv->minor, dv->patch, dv->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other",
               omp_get_max_threads());
  if (omp_get_max_threads() != 1) die("OpenMP still allows more than one thread");

  const std::vector<Library> libs = {{"Eigen", eigen_kernel},
                                     {"OpenBLAS pthread, 1 thread", openblas_kernel},
                                     {"OpenBLAS serial", openblas_serial_kernel},
                                     {"BLIS", blis_kernel},
                                     {"libxsmm, Wᵀ each call", libxsmm_kernel},
                                     {"libxsmm, Wᵀ once a step", libxsmm_kernel, true},
                                     {"oneDNN sgemm", dnnl_sgemm_kernel},
                                     {"oneDNN matmul", dnnl_matmul_kernel}};
  const size_t nl = libs.size();

  // The default network, batch 128 in 64-row blocks; Monte-Carlo inference 256 rows.
  const std::vector<int> sizes = {784, 256, 128, 64, 32, 10};
  const int L = static_cast<int>(sizes.size()) - 1, batch = 128, block = 64, mc_rows = 256,
            grad_rows = 32;
  std::vector<Case> cases;
  for (int l = 0; l < L; ++l) {
    const int I = sizes[l], O = sizes[l + 1];
    const std::string tag =
        "L" + std::to_string(l) + " " + std::to_string(I) + "->" + std::to_string(O);
    cases.push_back({tag + " fwd", forward(block, I, O), batch / block});
    if (l > 0) cases.push_back({tag + " dH", input_grad(block, I, O), batch / block});
    cases.push_back({tag + " dW", weight_grad(batch, I, O), 1});
  }
  for (int l = 0; l < L; ++l) {
    cases.push_back({"L" + std::to_string(l) + " " + std::to_string(sizes[l]) + "->" +
                         std::to_string(sizes[l + 1]) + " mc",
                     forward(mc_rows, sizes[l], sizes[l + 1]), 0});
  }
  // gift's dW tasks: 32 output rows of one layer each (the last may be shorter).
  std::vector<Gemm> task_gemms;
  for (int l = 0; l < L; ++l) {
    for (int o = 0; o < sizes[l + 1]; o += grad_rows) {
      task_gemms.push_back(
          weight_grad(batch, sizes[l], sizes[l + 1], std::min(grad_rows, sizes[l + 1] - o)));
    }
  }

  // 1. Correctness of every library on every shape (and on gift's dW task shapes).
  std::vector<Operands> ops;
  for (size_t s = 0; s < cases.size(); ++s) ops.emplace_back(cases[s].g, 1000 + 10 * s);
  std::vector<std::vector<Kernel>> kern(nl, std::vector<Kernel>(cases.size()));
  std::vector<bool> usable(nl, true);
  for (size_t li = 0; li < nl; ++li) {
    double worst = 0;
    std::vector<std::pair<std::string, Gemm>> all;
    for (const Case& c : cases) all.push_back({c.name, c.g});
    for (const Gemm& g : task_gemms)
      all.push_back({"dW task " + dims(g) + " lda " + std::to_string(g.lda), g});
    for (size_t s = 0; s < all.size(); ++s) {
      const Gemm& g = all[s].second;
      Kernel k = libs[li].make(g);
      if (!k) {
        std::fprintf(stderr, "%s: no kernel for %s (%s): left out\n", libs[li].name.c_str(),
                     all[s].first.c_str(), dims(g).c_str());
        usable[li] = false;
        break;
      }
      const Operands op(g, 7 + static_cast<uint32_t>(s));
      Buf c(g.c_size());
      run_from_c0(libs[li], k, g, op, c.data());
      const double err = relative_error(g, op, c.data());
      if (!(err < 1e-5)) {
        die(libs[li].name + " is wrong on " + all[s].first + " (" + dims(g) + "): relative error " +
            std::to_string(err) + " against the double reference " + "(limit 1e-5); nothing timed");
      }
      worst = std::max(worst, err);
      if (s < cases.size()) kern[li][s] = k;
    }
    if (usable[li]) {
      std::fprintf(stderr, "check %-26s all %zu shapes ok, worst relative error %.1e\n",
                   libs[li].name.c_str(), all.size(), worst);
    }
  }

  // 2. Per-shape rates: the libraries take turns within each round; the best round counts.
  std::vector<std::vector<double>> best(nl, std::vector<double>(cases.size(), 1e30));
  for (size_t s = 0; s < cases.size(); ++s) {
    const Gemm& g = cases[s].g;
    std::vector<Buf> cs;
    std::vector<long> reps(nl, 0);
    for (size_t li = 0; li < nl; ++li) cs.emplace_back(g.c_size());
    for (size_t li = 0; li < nl; ++li) {
      if (usable[li]) run_from_c0(libs[li], kern[li][s], g, ops[s], cs[li].data());
    }
    for (int t = 0; t < trials; ++t) {
      for (size_t li = 0; li < nl; ++li) {
        if (!usable[li]) continue;
        const Kernel& k = kern[li][s];
        const float *a = ops[s].a.data(), *b = ops[s].b_for(libs[li], g);
        float* c = cs[li].data();
        best[li][s] = std::min(best[li][s], round_time([&] { k(a, b, c); }, reps[li], trial_s));
      }
    }
  }

  // 3. One training step as a sequence (make_step), on one thread; then on 2 threads at once,
  // each with its own buffers and kernels (the aggregate rate, as gift's 2 threads would see
  // the library: shared caches, memory bandwidth and any lock inside it).
  const Net net0(sizes, batch);
  double step_flop = 0;
  for (int l = 0; l < L; ++l) {
    step_flop += 2 * forward(block, sizes[l], sizes[l + 1]).flop() +
                 weight_grad(batch, sizes[l], sizes[l + 1]).flop() +
                 (l > 0 ? 2 * input_grad(block, sizes[l], sizes[l + 1]).flop() : 0.0);
  }
  std::vector<double> step_s(nl, 1e30), step_tasks_s(nl, 1e30), step2_s(nl, 1e30);
  std::vector<long> step_reps(nl, 0);
  for (int tasks = 0; tasks < 2; ++tasks) {
    std::vector<Net> nets(nl, net0);
    std::vector<std::function<void()>> steps(nl);
    for (size_t li = 0; li < nl; ++li) {
      if (usable[li]) steps[li] = make_step(libs[li], nets[li], tasks ? grad_rows : 0);
    }
    std::vector<long> reps(nl, 0);
    for (int t = 0; t < trials; ++t) {
      for (size_t li = 0; li < nl; ++li) {
        if (!usable[li]) continue;
        double& best_s = tasks ? step_tasks_s[li] : step_s[li];
        best_s = std::min(best_s, round_time(steps[li], reps[li], 4 * trial_s));
      }
    }
    if (!tasks) step_reps = reps;
  }
  const int threads_after_timing = threads_of_process();
  omp_set_dynamic(0);
  for (int t = 0; t < trials; ++t) {
    for (size_t li = 0; li < nl; ++li) {
      if (!usable[li]) continue;
      double t0 = 0;
#pragma omp parallel num_threads(2)
      {
        Net mine(net0);
        const std::function<void()> step = make_step(libs[li], mine, 0);
        step();  // warm
#pragma omp barrier
#pragma omp master
        t0 = now();
        for (long r = 0; r < step_reps[li]; ++r) step();
      }
      step2_s[li] = std::min(step2_s[li], (now() - t0) / static_cast<double>(step_reps[li]));
    }
  }

  // 4. Bitwise reproducibility against the first result: again on one thread, on 2 OpenMP
  // threads at once (each with its own kernel and output buffer), and with OpenMP allowing 2.
  std::vector<std::string> repeat_ok(nl), concurrent_ok(nl), omp2_ok(nl);
  for (size_t li = 0; li < nl; ++li) {
    if (!usable[li]) continue;
    bool rep = true, omp2 = true;
    long conc_calls = 0, conc_bad = 0;
    double conc_worst = 0;
    for (size_t s = 0; s < cases.size(); ++s) {
      const Gemm& g = cases[s].g;
      const size_t bytes = g.c_size() * sizeof(float);
      Buf first(g.c_size()), again(g.c_size());
      run_from_c0(libs[li], kern[li][s], g, ops[s], first.data());
      for (int r = 0; r < 3; ++r) {
        run_from_c0(libs[li], kern[li][s], g, ops[s], again.data());
        rep = rep && std::memcmp(first.data(), again.data(), bytes) == 0;
      }
      // ~15 ms of calls on each thread (at least 20): a race may show once in a thousand.
      long calls = 0, bad = 0;
      double worst = 0;
#pragma omp parallel num_threads(2) reduction(+ : calls, bad) reduction(max : worst)
      {
        Kernel k = libs[li].make(g);
        Buf c(g.c_size());
#pragma omp barrier
        const double t0 = now();
        for (long r = 0; r < 20 || now() - t0 < 0.015; ++r, ++calls) {
          run_from_c0(libs[li], k, g, ops[s], c.data());
          if (std::memcmp(first.data(), c.data(), bytes) != 0) {
            ++bad;
            double num = 0, den = 0;
            for (size_t i = 0; i < g.c_size(); ++i) {
              const double d = static_cast<double>(c.data()[i]) - first.data()[i];
              num += d * d;
              den += static_cast<double>(first.data()[i]) * first.data()[i];
            }
            worst = std::max(worst, std::sqrt(num / den));
          }
        }
      }
      conc_calls += calls;
      conc_bad += bad;
      conc_worst = std::max(conc_worst, worst);
    }
    // The same with OpenMP allowing 2 threads outside any parallel region (as after
    // omp_set_num_threads(2), or gift's 1-thread region, which is inactive): a library on
    // OpenMP may then split the product, and its result may depend on the thread count.
    omp_set_num_threads(2);
    for (size_t s = 0; s < cases.size(); ++s) {
      const Gemm& g = cases[s].g;
      Buf first(g.c_size()), c(g.c_size());
      run_from_c0(libs[li], kern[li][s], g, ops[s], first.data());
      const Kernel k = libs[li].make(g);
      run_from_c0(libs[li], k, g, ops[s], c.data());
      omp2 = omp2 && std::memcmp(first.data(), c.data(), g.c_size() * sizeof(float)) == 0;
    }
    omp_set_num_threads(1);
    omp2_ok[li] = omp2 ? "yes" : "NO";
    repeat_ok[li] = rep ? "yes" : "NO";
    char text[160];
    if (conc_bad == 0) {
      std::snprintf(text, sizeof text, "yes (%ld calls)", conc_calls);
    } else {
      std::snprintf(text, sizeof text, "NO: %ld of %ld calls, error up to %.2g", conc_bad,
                    conc_calls, conc_worst);
    }
    concurrent_ok[li] = text;
  }

  // The report.
  std::fprintf(stderr, "threads of the process after the single-thread timings: %d%s\n",
               threads_after_timing,
               threads_after_timing == 1
                   ? " (no library started threads)"
                   : " (EXPECTED 1: a library started threads; OPENBLAS_NUM_THREADS=1 unset?)");
  std::fprintf(stderr, "oneDNN matmul implementations: %s\n", dnnl_impl_seen.c_str());
  std::printf(
      "GFLOP/s per product on one thread (M x N x K; best of %d rounds of ~%.0f ms); "
      "the best of each row in bold\n\n",
      trials, trial_s * 1000);
  std::printf("| shape | M x N x K |");
  for (const Library& l : libs) std::printf(" %s |", l.name.c_str());
  std::printf("\n| --- | --- |");
  for (size_t li = 0; li < nl; ++li) std::printf(" ---: |");
  std::printf("\n");
  // One row of numbers, the best (highest, or lowest when !higher) in bold.
  const auto row = [&](const std::string& label, const std::string& what,
                       const std::vector<double>& v, int decimals, bool higher) {
    size_t b = nl;
    for (size_t li = 0; li < nl; ++li) {
      if (usable[li] && (b == nl || (higher ? v[li] > v[b] : v[li] < v[b]))) b = li;
    }
    std::printf("| %s | %s |", label.c_str(), what.c_str());
    for (size_t li = 0; li < nl; ++li) {
      if (!usable[li]) {
        std::printf(" n/a |");
      } else {
        std::printf(li == b ? " **%.*f** |" : " %.*f |", decimals, v[li]);
      }
    }
    std::printf("\n");
  };
  const auto per_lib = [&](const std::function<double(size_t)>& f) {
    std::vector<double> v(nl);
    for (size_t li = 0; li < nl; ++li) v[li] = f(li);
    return v;
  };
  for (size_t s = 0; s < cases.size(); ++s) {
    row(cases[s].name, dims(cases[s].g),
        per_lib([&](size_t li) { return cases[s].g.flop() / best[li][s] / 1e9; }), 1, true);
  }
  const std::string mflop =
      std::to_string(static_cast<int>(std::lround(step_flop / 1e6))) + " MFLOP";
  row("step as the sum of its products, µs", mflop, per_lib([&](size_t li) {
        double t = 0;
        for (size_t s = 0; s < cases.size(); ++s) t += cases[s].per_step * best[li][s];
        return t * 1e6;
      }),
      1, false);
  const auto step_rows = [&](const std::string& what, const std::vector<double>& t) {
    row("step" + what + ", µs", mflop, per_lib([&](size_t li) { return t[li] * 1e6; }), 1, false);
    row("step" + what + ", samples/s", "128 / step",
        per_lib([&](size_t li) { return batch / t[li]; }), 0, true);
  };
  step_rows(" in sequence", step_s);
  step_rows(" in sequence, dW in 32-row tasks", step_tasks_s);
  row("2 threads, a step each at once, samples/s", "both threads",
      per_lib([&](size_t li) { return 2 * batch / step2_s[li]; }), 0, true);
  const auto text_row = [&](const char* label, const std::vector<std::string>& v) {
    std::printf("| %s | |", label);
    for (size_t li = 0; li < nl; ++li) std::printf(" %s |", usable[li] ? v[li].c_str() : "n/a");
    std::printf("\n");
  };
  text_row("bitwise same on repeat", repeat_ok);
  text_row("bitwise same on 2 threads at once", concurrent_ok);
  text_row("bitwise same if OpenMP allows 2 threads", omp2_ok);
  // The fastest for each way of running the step (a difference under ~2% is within what
  // repeated runs of this program vary by).
  const auto fastest = [&](const char* what, const std::vector<double>& t) {
    size_t f = nl;
    for (size_t li = 0; li < nl; ++li) {
      if (usable[li] && (f == nl || t[li] < t[f])) f = li;
    }
    size_t second = nl;
    for (size_t li = 0; li < nl; ++li) {
      if (usable[li] && li != f && (second == nl || t[li] < t[second])) second = li;
    }
    std::printf("fastest %s: %s, %.2fx Eigen's speed", what, libs[f].name.c_str(), t[0] / t[f]);
    if (second < nl) {
      std::printf(" (next %s, %.1f%% slower)", libs[second].name.c_str(),
                  100 * (t[second] / t[f] - 1));
    }
    std::printf("\n");
  };
  std::printf("\n");
  fastest("for the step in sequence", step_s);
  fastest("for the step, dW in 32-row tasks", step_tasks_s);
  fastest("on 2 threads at once", step2_s);
  libxsmm_finalize();
  return 0;
}

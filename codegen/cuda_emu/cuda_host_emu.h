// cuda_host_emu.h - run (simple) CUDA C kernels on the CPU for numerical testing.
// Adopted from the team reference shared/reference/cuda_host_emu.h (graphnn adds __longlong_as_double).
// Build: g++ -std=c++20 -O1 -pthread -fPIC -shared -x c++ -include cuda_host_emu.h kern.cu -o kern.so
// Model: blocks run one after another; the threads of ONE block are real OS threads (created once per
// launch and reused for every block), so __syncthreads() is a real barrier and __shared__ (= static)
// memory is shared by the block. Threads that return early "arrive_and_drop" like exited CUDA threads.
// Export a kernel with CUEMU_EXPORT(name) -> extern "C" void cuemu_launch_<name>(grid[3], block[3],
// void** args)  where args[i] points at the i-th argument value (same convention as cuLaunchKernel).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <math.h>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __constant__ static
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
inline thread_local uint3 threadIdx;   // fixed per OS thread for the whole launch
inline thread_local uint3 blockIdx;
inline dim3 blockDim, gridDim;         // read-only during a launch
constexpr int warpSize = 32;

#ifdef CUEMU_CUSTOM_RUNTIME          // e.g. -DCUEMU_CUSTOM_RUNTIME='"cuemu_fibers.inc"' (1 OS thread, fibers)
#include CUEMU_CUSTOM_RUNTIME
#else
#include <barrier>                   // graphnn: only the OS-thread runtime needs these (faster builds)
#include <thread>
namespace cuemu {
using Bar = std::barrier<>;
inline Bar* block_bar = nullptr;               // __syncthreads
inline std::vector<Bar*> warp_bars;            // __syncwarp / shuffles, one per warp
inline std::vector<uint64_t> warp_buf;         // shuffle exchange slots, one per thread
inline thread_local unsigned tid_lin;
inline unsigned nthreads() { return blockDim.x * blockDim.y * blockDim.z; }
inline unsigned warp_size_of(unsigned w) { return std::min(32u, nthreads() - 32 * w); }
inline void reset_bars() {
    delete block_bar;
    block_bar = new Bar(nthreads());
    for (auto* b : warp_bars) delete b;
    warp_bars.assign((nthreads() + 31) / 32, nullptr);
    for (unsigned w = 0; w < warp_bars.size(); ++w) warp_bars[w] = new Bar(warp_size_of(w));
}
struct Reset { void operator()() noexcept { reset_bars(); } };

template <class... A, std::size_t... I>
void call(void (*k)(A...), void** args, std::index_sequence<I...>) {
    k(*static_cast<std::remove_cvref_t<A>*>(args[I])...);
}
template <class... A>
void launch(void (*k)(A...), dim3 grid, dim3 block, void** args) {
    gridDim = grid; blockDim = block;
    unsigned nt = nthreads();
    warp_buf.assign(nt, 0);
    reset_bars();
    std::barrier<Reset> end_of_block(nt);      // completion step re-arms the barriers for next block
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < nt; ++t)
        ts.emplace_back([&, t] {
            tid_lin = t;
            threadIdx = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
            for (unsigned bz = 0; bz < grid.z; ++bz)
                for (unsigned by = 0; by < grid.y; ++by)
                    for (unsigned bx = 0; bx < grid.x; ++bx) {
                        blockIdx = {bx, by, bz};
                        call(k, args, std::index_sequence_for<A...>{});
                        block_bar->arrive_and_drop();           // exited threads stop counting
                        warp_bars[t / 32]->arrive_and_drop();
                        end_of_block.arrive_and_wait();
                    }
        });
    for (auto& th : ts) th.join();
}
template <class T> T shfl(T v, unsigned src_lane_in_warp) {
    static_assert(sizeof(T) <= 8);
    unsigned w = tid_lin / 32, base = w * 32;
    uint64_t bits = 0; std::memcpy(&bits, &v, sizeof(T));
    warp_buf[tid_lin] = bits;
    warp_bars[w]->arrive_and_wait();
    unsigned src = src_lane_in_warp < warp_size_of(w) ? base + src_lane_in_warp : tid_lin;
    bits = warp_buf[src];
    warp_bars[w]->arrive_and_wait();               // nobody overwrites before everyone has read
    T out; std::memcpy(&out, &bits, sizeof(T)); return out;
}
}  // namespace cuemu

inline void __syncthreads() { cuemu::block_bar->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { cuemu::warp_bars[cuemu::tid_lin / 32]->arrive_and_wait(); }
#endif
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline unsigned __lane() { return cuemu::tid_lin % 32; }
template <class T> T __shfl_sync(unsigned, T v, int src, int width = 32) {
    return cuemu::shfl(v, (__lane() / width) * width + (unsigned)src % width); }
template <class T> T __shfl_down_sync(unsigned, T v, unsigned d, int width = 32) {
    unsigned l = __lane(), s = l % width + d; return cuemu::shfl(v, s < (unsigned)width ? l + d : l); }
template <class T> T __shfl_up_sync(unsigned, T v, unsigned d, int width = 32) {
    unsigned l = __lane(); return cuemu::shfl(v, l % width >= d ? l - d : l); }
template <class T> T __shfl_xor_sync(unsigned, T v, int m, int width = 32) {
    unsigned l = __lane(), s = l ^ (unsigned)m;
    return cuemu::shfl(v, s / width == l / width ? s : l); }

// atomics: integer types via __atomic builtins, floating point via a CAS loop
template <class T> T atomicCAS(T* p, T cmp, T val) {
    __atomic_compare_exchange(p, &cmp, &val, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); return cmp; }
template <class T, class F> T cuemu_atomic_rmw(T* p, F f) {
    T old, nv; __atomic_load(p, &old, __ATOMIC_RELAXED);
    do { nv = f(old); } while (!__atomic_compare_exchange(p, &old, &nv, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    return old; }
template <class T> T atomicAdd(T* p, T v) {
    if constexpr (std::is_integral_v<T>) return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
    else return cuemu_atomic_rmw(p, [v](T o) { return o + v; }); }
template <class T> T atomicSub(T* p, T v) { return atomicAdd(p, (T)-v); }
template <class T> T atomicMax(T* p, T v) { return cuemu_atomic_rmw(p, [v](T o) { return o > v ? o : v; }); }
template <class T> T atomicMin(T* p, T v) { return cuemu_atomic_rmw(p, [v](T o) { return o < v ? o : v; }); }
template <class T> T atomicExch(T* p, T v) { T r; __atomic_exchange(p, &v, &r, __ATOMIC_SEQ_CST); return r; }

// device math / intrinsics that are not plain libm
using std::max; using std::min;
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __saturatef(float x) { return fminf(fmaxf(x, 0.f), 1.f); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
template <class T> T __ldg(const T* p) { return *p; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
// graphnn: used by the CUDA renderer for float64 NaN/inf literals
inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }

#define CUEMU_EXPORT(k) \
    extern "C" void cuemu_launch_##k(const unsigned* g, const unsigned* b, void** args) { \
        cuemu::launch(k, dim3(g[0], g[1], g[2]), dim3(b[0], b[1], b[2]), args); }

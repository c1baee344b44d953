// ganforge ops: definitions shared by the CUDA kernels and their CPU emulation.
//
// Kernels are written as "block functions": a block's work is a sequence of phases separated by
// GF_SYNC(); inside a phase every thread handles the items GF_THREAD_LOOP gives it and threads
// exchange data only through shared memory. Compiled for the device, GF_THREAD_LOOP strides over
// threadIdx.x and GF_SYNC() is __syncthreads(). Compiled for the host (emulate.cpp, used by the
// test suite on machines without a GPU), one thread runs every item of a phase in turn, which
// gives the same result for kernels written this way.
#pragma once

#include <math.h>

#include <cstdint>

#if defined(__CUDACC__)
#define GF_HD __host__ __device__
#define GF_INLINE __forceinline__
#else
#define GF_HD
#define GF_INLINE inline
#endif

#if defined(__CUDA_ARCH__)
#define GF_THREAD_LOOP(i, n) for (int i = static_cast<int>(threadIdx.x); i < (n); i += static_cast<int>(blockDim.x))
#define GF_SYNC() __syncthreads()
#else
#define GF_THREAD_LOOP(i, n) for (int i = 0; i < (n); ++i)
#define GF_SYNC() ((void)0)
#endif

namespace gf {

// Arithmetic type for a storage type: float for half/bfloat16/float, double for double.
template <typename T>
struct OpMath {
  using type = float;
};
template <>
struct OpMath<double> {
  using type = double;
};

GF_HD GF_INLINE int imin(int a, int b) { return a < b ? a : b; }
GF_HD GF_INLINE int imax(int a, int b) { return a > b ? a : b; }

// Floor and ceiling of a / b for b > 0 and any sign of a.
GF_HD GF_INLINE int floor_div(int a, int b) {
  const int q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
GF_HD GF_INLINE int ceil_div(int a, int b) { return -floor_div(-a, b); }

GF_HD GF_INLINE float gf_exp(float v) { return expf(v); }
GF_HD GF_INLINE double gf_exp(double v) { return exp(v); }
GF_HD GF_INLINE float gf_tanh(float v) { return tanhf(v); }
GF_HD GF_INLINE double gf_tanh(double v) { return tanh(v); }
GF_HD GF_INLINE float gf_log1p(float v) { return log1pf(v); }
GF_HD GF_INLINE double gf_log1p(double v) { return log1p(v); }

}  // namespace gf

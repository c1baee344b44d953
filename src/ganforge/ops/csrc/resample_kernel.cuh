// The two-stage resampling kernel behind upfirdn2d and filtered_lrelu.
//
// Independently along x and y (one plane = one (n, c) pair):
//
//   tmp[m] = sum_i in[i] * A[i * up + off_a - m]        0 <= m < mid,  0 <= A index < taps_a
//   tmp[m] = act(tmp[m])                                (mode, see ResampleMode)
//   out[o] = sum_m tmp[m] * C[m - o * down + off_c]     0 <= C index < taps_c
//
// A and C are correlation weights, either separable (one vector per axis) or 2-D
// ([taps_y][taps_x]). Inputs outside [0, in) and tmp outside [0, mid) are zero. Each block computes
// one output tile of one plane: it loads the input region the tile needs into shared memory, runs
// stage A (two 1-D passes when separable), applies the activation, runs stage C and writes the tile.
// The adjoint of such a pass is again such a pass with the stages swapped and the weights flipped,
// which gives the backward pass (see ganforge/ops/_resample.py).
#pragma once

#include "common.h"

namespace gf {

enum ResampleMode : int {
  kLinear = 0,       // tmp unchanged (upfirdn2d)
  kLReLU = 1,        // leaky ReLU, gain, clamp
  kLReLUSigns = 2,   // same, and store per-sample code: bit 0 = negative, bit 1 = clamped
  kMask = 3,         // multiply by the derivative the stored codes describe (backward passes)
};

constexpr int kResampleThreads = 256;

struct ResampleAxis {
  int in, up, off_a, taps_a, mid, down, off_c, taps_c, out;
  int tile_out, tile_mid, tile_in, tiles;  // tile extents (upper bounds) and tile count
};

template <typename T>
struct ResampleParams {
  const void* x;
  void* y;
  const void* bias;  // [C] or null
  uint8_t* signs;    // [N, C, mid_y, mid_x] contiguous, or null
  const T* fa;       // separable: x weights; else 2-D [taps_a_y][taps_a_x]
  const T* fa_y;     // separable: y weights; null when 2-D
  const T* fc;
  const T* fc_y;
  int64_t sx[4];     // strides of x (n, c, h, w), in elements
  int64_t sy[4];     // strides of y
  int N, C;
  ResampleAxis ax, ay;
  int mode;
  T gain, slope, clamp;  // clamp < 0: no clamping
  int smem_in, smem_mid, smem_tmp;  // element counts of the shared-memory regions
};

template <typename T>
GF_HD GF_INLINE T resample_activate(const ResampleParams<T>& p, T v, int64_t code_index) {
  if (p.mode == kLReLU || p.mode == kLReLUSigns) {
    uint8_t code = 0;
    if (!(v > T(0))) {
      v *= p.slope;
      code = 1;
    }
    v *= p.gain;
    if (p.clamp >= T(0) && (v > p.clamp || v < -p.clamp)) {
      v = v > T(0) ? p.clamp : -p.clamp;
      code |= 2;
    }
    if (p.mode == kLReLUSigns) p.signs[code_index] = code;
    return v;
  }
  if (p.mode == kMask) {
    const uint8_t code = p.signs[code_index];
    if (code & 2) return T(0);
    return v * p.gain * ((code & 1) ? p.slope : T(1));
  }
  return v;
}

// Range [lo, hi] (inclusive, maybe empty) of input indices i in [i0, i1) that reach tmp[m] in stage A.
GF_HD GF_INLINE void stage_a_range(const ResampleAxis& a, int m, int i0, int i1, int& lo, int& hi) {
  lo = imax(i0, ceil_div(m - a.off_a, a.up));
  hi = imin(i1 - 1, floor_div(m + a.taps_a - 1 - a.off_a, a.up));
}

// Range [lo, hi] of tmp indices m in [m0, m1) that reach out[o] in stage C.
GF_HD GF_INLINE void stage_c_range(const ResampleAxis& a, int o, int m0, int m1, int& lo, int& hi) {
  lo = imax(m0, o * a.down - a.off_c);
  hi = imin(m1 - 1, o * a.down - a.off_c + a.taps_c - 1);
}

template <typename scalar_t, typename T>
GF_HD void resample_block(const ResampleParams<T>& p, T* smem, int64_t block) {
  const ResampleAxis& ax = p.ax;
  const ResampleAxis& ay = p.ay;
  const int tiles = ax.tiles * ay.tiles;
  const int64_t plane = block / tiles;
  const int tile = static_cast<int>(block % tiles);
  const int n = static_cast<int>(plane / p.C);
  const int c = static_cast<int>(plane % p.C);

  // Output tile, the tmp region it reads and the input region that region reads.
  const int ox0 = (tile % ax.tiles) * ax.tile_out, ox1 = imin(ox0 + ax.tile_out, ax.out);
  const int oy0 = (tile / ax.tiles) * ay.tile_out, oy1 = imin(oy0 + ay.tile_out, ay.out);
  const int mx0 = imax(0, ox0 * ax.down - ax.off_c), mx1 = imin(ax.mid, (ox1 - 1) * ax.down - ax.off_c + ax.taps_c);
  const int my0 = imax(0, oy0 * ay.down - ay.off_c), my1 = imin(ay.mid, (oy1 - 1) * ay.down - ay.off_c + ay.taps_c);
  const int ix0 = imax(0, ceil_div(mx0 - ax.off_a, ax.up));
  const int ix1 = imin(ax.in, floor_div(mx1 - 1 + ax.taps_a - 1 - ax.off_a, ax.up) + 1);
  const int iy0 = imax(0, ceil_div(my0 - ay.off_a, ay.up));
  const int iy1 = imin(ay.in, floor_div(my1 - 1 + ay.taps_a - 1 - ay.off_a, ay.up) + 1);
  const int nox = ox1 - ox0, noy = oy1 - oy0;
  const int nmx = imax(0, mx1 - mx0), nmy = imax(0, my1 - my0);
  const int nix = imax(0, ix1 - ix0), niy = imax(0, iy1 - iy0);

  T* s_in = smem;                    // [niy][nix]
  T* s_mid = smem + p.smem_in;       // stage A: [niy][nmx]; stage C: [nmy][nox]
  T* s_tmp = s_mid + p.smem_mid;     // [nmy][nmx]

  // Phase 1: input region (+ bias) into shared memory.
  const scalar_t* x = static_cast<const scalar_t*>(p.x);
  const T bias = p.bias ? static_cast<T>(static_cast<const scalar_t*>(p.bias)[c]) : T(0);
  const int64_t xbase = n * p.sx[0] + c * p.sx[1];
  GF_THREAD_LOOP(k, niy * nix) {
    const int r = k / nix, q = k % nix;
    s_in[k] = static_cast<T>(x[xbase + (iy0 + r) * p.sx[2] + (ix0 + q) * p.sx[3]]) + bias;
  }
  GF_SYNC();

  // Phase 2: stage A and the activation.
  const int64_t code_base = (static_cast<int64_t>(n) * p.C + c) * ay.mid * ax.mid;
  if (p.fa_y != nullptr) {
    GF_THREAD_LOOP(k, niy * nmx) {  // along x
      const int r = k / nmx, m = mx0 + k % nmx;
      int lo, hi;
      stage_a_range(ax, m, ix0, ix1, lo, hi);
      T acc = T(0);
      for (int i = lo; i <= hi; ++i) acc += s_in[r * nix + i - ix0] * p.fa[i * ax.up + ax.off_a - m];
      s_mid[k] = acc;
    }
    GF_SYNC();
    GF_THREAD_LOOP(k, nmy * nmx) {  // along y, then the activation
      const int m = my0 + k / nmx, j = k % nmx;
      int lo, hi;
      stage_a_range(ay, m, iy0, iy1, lo, hi);
      T acc = T(0);
      for (int i = lo; i <= hi; ++i) acc += s_mid[(i - iy0) * nmx + j] * p.fa_y[i * ay.up + ay.off_a - m];
      s_tmp[k] = resample_activate(p, acc, code_base + static_cast<int64_t>(m) * ax.mid + mx0 + j);
    }
  } else {
    GF_THREAD_LOOP(k, nmy * nmx) {
      const int my = my0 + k / nmx, mx = mx0 + k % nmx;
      int ylo, yhi, xlo, xhi;
      stage_a_range(ay, my, iy0, iy1, ylo, yhi);
      stage_a_range(ax, mx, ix0, ix1, xlo, xhi);
      T acc = T(0);
      for (int i = ylo; i <= yhi; ++i) {
        const T* frow = p.fa + (i * ay.up + ay.off_a - my) * ax.taps_a;
        const T* srow = s_in + (i - iy0) * nix;
        for (int q = xlo; q <= xhi; ++q) acc += srow[q - ix0] * frow[q * ax.up + ax.off_a - mx];
      }
      s_tmp[k] = resample_activate(p, acc, code_base + static_cast<int64_t>(my) * ax.mid + mx);
    }
  }
  GF_SYNC();

  // Phase 3: stage C, written straight to the output.
  scalar_t* y = static_cast<scalar_t*>(p.y);
  const int64_t ybase = n * p.sy[0] + c * p.sy[1];
  if (p.fc_y != nullptr) {
    GF_THREAD_LOOP(k, nmy * nox) {  // along x
      const int r = k / nox, o = ox0 + k % nox;
      int lo, hi;
      stage_c_range(ax, o, mx0, mx1, lo, hi);
      T acc = T(0);
      for (int m = lo; m <= hi; ++m) acc += s_tmp[r * nmx + m - mx0] * p.fc[m - o * ax.down + ax.off_c];
      s_mid[k] = acc;
    }
    GF_SYNC();
    GF_THREAD_LOOP(k, noy * nox) {  // along y
      const int o = oy0 + k / nox, j = k % nox;
      int lo, hi;
      stage_c_range(ay, o, my0, my1, lo, hi);
      T acc = T(0);
      for (int m = lo; m <= hi; ++m) acc += s_mid[(m - my0) * nox + j] * p.fc_y[m - o * ay.down + ay.off_c];
      y[ybase + o * p.sy[2] + (ox0 + j) * p.sy[3]] = static_cast<scalar_t>(acc);
    }
  } else {
    GF_THREAD_LOOP(k, noy * nox) {
      const int oy = oy0 + k / nox, ox = ox0 + k % nox;
      int ylo, yhi, xlo, xhi;
      stage_c_range(ay, oy, my0, my1, ylo, yhi);
      stage_c_range(ax, ox, mx0, mx1, xlo, xhi);
      T acc = T(0);
      for (int m = ylo; m <= yhi; ++m) {
        const T* frow = p.fc + (m - oy * ay.down + ay.off_c) * ax.taps_c;
        const T* srow = s_tmp + (m - my0) * nmx;
        for (int q = xlo; q <= xhi; ++q) acc += srow[q - mx0] * frow[q - ox * ax.down + ax.off_c];
      }
      y[ybase + oy * p.sy[2] + ox * p.sy[3]] = static_cast<scalar_t>(acc);
    }
  }
}

}  // namespace gf

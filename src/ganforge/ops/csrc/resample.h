// Host side of the two-stage resampling kernel: argument checks, tiling and parameters.
// Shared by the CUDA launcher (resample.cu) and the CPU emulation (emulate.cpp).
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "resample_kernel.cuh"

namespace gf {

// Checks the arguments of resample_cuda / the emulation (see resample_kernel.cuh).
inline void resample_check(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& fa,
                           const at::Tensor& fa_y, const at::Tensor& fc, const at::Tensor& fc_y,
                           const at::Tensor& signs, const std::vector<int64_t>& geom, int64_t mode) {
  TORCH_CHECK(x.dim() == 4, "resample: x must be [N, C, H, W]");
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), "resample: x must be floating point");
  TORCH_CHECK(x.size(2) < (1 << 30) && x.size(3) < (1 << 30) && x.size(1) < (1 << 30) && x.size(0) < (1 << 30),
              "resample: x is too large");
  TORCH_CHECK(geom.size() == 12, "resample: geometry must have 12 entries");
  const auto opmath = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  for (const at::Tensor* f : {&fa, &fc}) {
    TORCH_CHECK(f->scalar_type() == opmath && f->is_contiguous() && f->device() == x.device() && f->numel() > 0,
                "resample: filters must be non-empty, contiguous, on x's device, of dtype ", opmath);
  }
  for (const at::Tensor* f : {&fa_y, &fc_y}) {
    TORCH_CHECK(f->numel() == 0 || (f->scalar_type() == opmath && f->is_contiguous() && f->device() == x.device()),
                "resample: bad y filter");
  }
  TORCH_CHECK(fa_y.numel() == 0 ? fa.dim() == 2 : (fa.dim() == 1 && fa_y.dim() == 1), "resample: bad stage A filter");
  TORCH_CHECK(fc_y.numel() == 0 ? fc.dim() == 2 : (fc.dim() == 1 && fc_y.dim() == 1), "resample: bad stage C filter");
  TORCH_CHECK(bias.numel() == 0 || (bias.dim() == 1 && bias.size(0) == x.size(1) && bias.is_contiguous() &&
                                    bias.scalar_type() == x.scalar_type() && bias.device() == x.device()),
              "resample: bias must be empty or [C] like x");
  TORCH_CHECK(mode >= kLinear && mode <= kMask, "resample: bad mode");
  const int64_t up_x = geom[0], up_y = geom[1], mid_x = geom[4], mid_y = geom[5];
  const int64_t down_x = geom[6], down_y = geom[7], out_x = geom[10], out_y = geom[11];
  TORCH_CHECK(up_x >= 1 && up_y >= 1 && down_x >= 1 && down_y >= 1, "resample: factors must be >= 1");
  TORCH_CHECK(mid_x >= 1 && mid_y >= 1 && out_x >= 1 && out_y >= 1 && mid_x < (1 << 30) && mid_y < (1 << 30),
              "resample: bad geometry");
  if (mode == kLReLUSigns || mode == kMask) {
    TORCH_CHECK(signs.scalar_type() == at::kByte && signs.is_contiguous() && signs.device() == x.device() &&
                    signs.dim() == 4 && signs.size(0) == x.size(0) && signs.size(1) == x.size(1) &&
                    signs.size(2) == mid_y && signs.size(3) == mid_x,
                "resample: signs must be uint8 [N, C, mid_y, mid_x]");
  }
}

inline at::Tensor resample_output(const at::Tensor& x, const std::vector<int64_t>& geom) {
  return at::empty({x.size(0), x.size(1), geom[11], geom[10]}, x.options().memory_format(x.suggest_memory_format()));
}

template <typename T>
struct ResampleSetup {
  ResampleParams<T> p;
  int64_t blocks;
  size_t smem_bytes;
};

// Tile extents for an output tile of `tile_out` samples along one axis.
inline void resample_extents(ResampleAxis& a, int tile_out) {
  a.tile_out = tile_out;
  a.tile_mid = imin(a.mid, (tile_out - 1) * a.down + a.taps_c);
  a.tile_in = imin(a.in, (a.tile_mid + a.taps_a - 2) / a.up + 1);
  a.tiles = (a.out + tile_out - 1) / tile_out;
}

template <typename scalar_t>
ResampleSetup<typename OpMath<scalar_t>::type> resample_setup(
    const at::Tensor& x, const at::Tensor& y, const at::Tensor& bias, const at::Tensor& fa, const at::Tensor& fa_y,
    const at::Tensor& fc, const at::Tensor& fc_y, const at::Tensor& signs, const std::vector<int64_t>& geom,
    int64_t mode, double gain, double slope, double clamp, size_t smem_limit) {
  using T = typename OpMath<scalar_t>::type;
  ResampleSetup<T> s;
  ResampleParams<T>& p = s.p;
  const bool sep_a = fa_y.numel() > 0, sep_c = fc_y.numel() > 0;
  p.x = x.data_ptr();
  p.y = y.data_ptr();
  p.bias = bias.numel() ? bias.data_ptr() : nullptr;
  p.signs = (mode == kLReLUSigns || mode == kMask) ? signs.data_ptr<uint8_t>() : nullptr;
  p.fa = fa.data_ptr<T>();
  p.fa_y = sep_a ? fa_y.data_ptr<T>() : nullptr;
  p.fc = fc.data_ptr<T>();
  p.fc_y = sep_c ? fc_y.data_ptr<T>() : nullptr;
  for (int d = 0; d < 4; ++d) {
    p.sx[d] = x.stride(d);
    p.sy[d] = y.stride(d);
  }
  p.N = static_cast<int>(x.size(0));
  p.C = static_cast<int>(x.size(1));
  const int taps_ax = static_cast<int>(sep_a ? fa.numel() : fa.size(1));
  const int taps_ay = static_cast<int>(sep_a ? fa_y.numel() : fa.size(0));
  const int taps_cx = static_cast<int>(sep_c ? fc.numel() : fc.size(1));
  const int taps_cy = static_cast<int>(sep_c ? fc_y.numel() : fc.size(0));
  auto g = [&](int i) { return static_cast<int>(geom[i]); };
  p.ax = ResampleAxis{static_cast<int>(x.size(3)), g(0), g(2), taps_ax, g(4), g(6), g(8), taps_cx, g(10), 0, 0, 0, 0};
  p.ay = ResampleAxis{static_cast<int>(x.size(2)), g(1), g(3), taps_ay, g(5), g(7), g(9), taps_cy, g(11), 0, 0, 0, 0};
  p.mode = static_cast<int>(mode);
  p.gain = static_cast<T>(gain);
  p.slope = static_cast<T>(slope);
  p.clamp = static_cast<T>(clamp);

  // Largest output tile (at most 64 x 64) whose shared memory fits in smem_limit.
  int tox = imin(p.ax.out, 64), toy = imin(p.ay.out, 64);
  for (;;) {
    resample_extents(p.ax, tox);
    resample_extents(p.ay, toy);
    p.smem_in = p.ay.tile_in * p.ax.tile_in;
    p.smem_mid = std::max(sep_a ? p.ay.tile_in * p.ax.tile_mid : 0, sep_c ? p.ay.tile_mid * p.ax.tile_out : 0);
    p.smem_tmp = p.ay.tile_mid * p.ax.tile_mid;
    s.smem_bytes = static_cast<size_t>(p.smem_in + p.smem_mid + p.smem_tmp) * sizeof(T);
    if (s.smem_bytes <= smem_limit) break;
    TORCH_CHECK(tox > 1 || toy > 1, "resample: filters too large for shared memory");
    if (tox >= toy) {
      tox = (tox + 1) / 2;
    } else {
      toy = (toy + 1) / 2;
    }
  }
  s.blocks = static_cast<int64_t>(p.N) * p.C * p.ax.tiles * p.ay.tiles;
  return s;
}

// Defined in resample.cu (CUDA) and emulate.cpp (CPU emulation for tests).
at::Tensor resample_cuda(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& fa, const at::Tensor& fa_y,
                         const at::Tensor& fc, const at::Tensor& fc_y, const at::Tensor& signs,
                         const std::vector<int64_t>& geom, int64_t mode, double gain, double slope, double clamp);

}  // namespace gf

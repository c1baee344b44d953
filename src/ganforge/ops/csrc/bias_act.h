// Host side of the bias_act kernel: checks and parameters, shared by bias_act.cu and emulate.cpp.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>

#include "bias_act_kernel.cuh"

namespace gf {

inline void bias_act_check(const at::Tensor& x, const at::Tensor& b, const at::Tensor& xref, const at::Tensor& dy,
                           int64_t act, int64_t grad, int64_t dim) {
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), "bias_act: x must be floating point");
  TORCH_CHECK(x.is_non_overlapping_and_dense(), "bias_act: x must be dense");
  TORCH_CHECK(act >= kActLinear && act <= kActSwish, "bias_act: bad activation index");
  TORCH_CHECK(grad >= 0 && grad <= 2, "bias_act: grad must be 0, 1 or 2");
  TORCH_CHECK(x.dim() > 0 ? (dim >= 0 && dim < x.dim()) : dim == 0, "bias_act: bad dim");
  TORCH_CHECK(b.numel() == 0 || (b.dim() == 1 && b.size(0) == x.size(dim) && b.is_contiguous() &&
                                 b.scalar_type() == x.scalar_type() && b.device() == x.device()),
              "bias_act: b must be empty or [x.size(dim)] like x");
  if (grad >= 1) {
    TORCH_CHECK(xref.sizes() == x.sizes() && xref.strides() == x.strides() && xref.scalar_type() == x.scalar_type() &&
                    xref.device() == x.device(),
                "bias_act: xref must match x");
  }
  if (grad == 2) {
    TORCH_CHECK(dy.sizes() == x.sizes() && dy.strides() == x.strides() && dy.scalar_type() == x.scalar_type() &&
                    dy.device() == x.device(),
                "bias_act: dy must match x");
  }
}

template <typename scalar_t>
BiasActParams<typename OpMath<scalar_t>::type> bias_act_params(const at::Tensor& x, const at::Tensor& b,
                                                               const at::Tensor& xref, const at::Tensor& dy,
                                                               const at::Tensor& out, int64_t act, int64_t grad,
                                                               double alpha, double gain, double clamp, int64_t dim) {
  using T = typename OpMath<scalar_t>::type;
  BiasActParams<T> p;
  p.x = x.data_ptr();
  p.b = b.numel() ? b.data_ptr() : nullptr;
  p.xref = grad >= 1 ? xref.data_ptr() : nullptr;
  p.dy = grad == 2 ? dy.data_ptr() : nullptr;
  p.out = out.data_ptr();
  p.numel = x.numel();
  p.step_b = x.dim() > 0 ? std::max<int64_t>(x.stride(dim), 1) : 1;
  p.size_b = x.dim() > 0 ? static_cast<int>(x.size(dim)) : 1;
  p.act = static_cast<int>(act);
  p.grad = static_cast<int>(grad);
  p.alpha = static_cast<T>(alpha);
  p.gain = static_cast<T>(gain);
  p.clamp = static_cast<T>(clamp);
  return p;
}

// Defined in bias_act.cu (CUDA) and emulate.cpp (CPU emulation for tests).
at::Tensor bias_act_cuda(const at::Tensor& x, const at::Tensor& b, const at::Tensor& xref, const at::Tensor& dy,
                         int64_t act, int64_t grad, double alpha, double gain, double clamp, int64_t dim);

}  // namespace gf

// CUDA launcher of the bias_act kernel.
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "bias_act.h"

namespace gf {

constexpr int kBiasActThreads = 256;

template <typename scalar_t, typename T>
__global__ void __launch_bounds__(kBiasActThreads) bias_act_kernel(BiasActParams<T> p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.numel; i += stride) {
    bias_act_element<scalar_t, T>(p, i);
  }
}

at::Tensor bias_act_cuda(const at::Tensor& x, const at::Tensor& b, const at::Tensor& xref, const at::Tensor& dy,
                         int64_t act, int64_t grad, double alpha, double gain, double clamp, int64_t dim) {
  TORCH_CHECK(x.is_cuda(), "bias_act_cuda: x must be a CUDA tensor");
  bias_act_check(x, b, xref, dy, act, grad, dim);
  const c10::cuda::OptionalCUDAGuard guard(x.device());
  at::Tensor out = at::empty_like(x);
  if (x.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_cuda", [&] {
    using T = typename OpMath<scalar_t>::type;
    const auto p = bias_act_params<scalar_t>(x, b, xref, dy, out, act, grad, alpha, gain, clamp, dim);
    const int64_t blocks = std::min<int64_t>((p.numel + kBiasActThreads - 1) / kBiasActThreads, int64_t(1) << 20);
    bias_act_kernel<scalar_t, T><<<static_cast<unsigned>(blocks), kBiasActThreads, 0,
                                   c10::cuda::getCurrentCUDAStream()>>>(p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace gf

// CUDA launcher of the two-stage resampling kernel (upfirdn2d, filtered_lrelu).
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "resample.h"

namespace gf {

template <typename scalar_t, typename T>
__global__ void __launch_bounds__(kResampleThreads) resample_kernel(ResampleParams<T> p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  resample_block<scalar_t, T>(p, reinterpret_cast<T*>(smem_raw), static_cast<int64_t>(blockIdx.x));
}

at::Tensor resample_cuda(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& fa, const at::Tensor& fa_y,
                         const at::Tensor& fc, const at::Tensor& fc_y, const at::Tensor& signs,
                         const std::vector<int64_t>& geom, int64_t mode, double gain, double slope, double clamp) {
  TORCH_CHECK(x.is_cuda(), "resample_cuda: x must be a CUDA tensor");
  resample_check(x, bias, fa, fa_y, fc, fc_y, signs, geom, mode);
  const c10::cuda::OptionalCUDAGuard guard(x.device());
  at::Tensor y = resample_output(x, geom);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "resample_cuda", [&] {
    using T = typename OpMath<scalar_t>::type;
    const auto s = resample_setup<scalar_t>(x, y, bias, fa, fa_y, fc, fc_y, signs, geom, mode, gain, slope, clamp,
                                            48 * 1024);
    TORCH_CHECK(s.blocks < (int64_t(1) << 31), "resample_cuda: too many blocks");
    if (s.blocks > 0) {
      resample_kernel<scalar_t, T><<<static_cast<unsigned>(s.blocks), kResampleThreads, s.smem_bytes,
                                     c10::cuda::getCurrentCUDAStream()>>>(s.p);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  return y;
}

}  // namespace gf

// CPU emulation of ganforge's CUDA kernels, for tests on machines without a GPU.
//
// It compiles the same kernel headers (resample_kernel.cuh, bias_act_kernel.cuh) and the same host
// setup code (resample.h, bias_act.h) for the CPU and runs every thread block in turn (see
// common.h), behind Python functions with the same signatures as the CUDA extensions. Shared memory
// is filled with NaN before every block, so a read of a value no phase wrote shows up in the output.
#include <torch/extension.h>

#include <limits>
#include <vector>

#include "bias_act.h"
#include "resample.h"

namespace gf {

at::Tensor resample_cuda(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& fa, const at::Tensor& fa_y,
                         const at::Tensor& fc, const at::Tensor& fc_y, const at::Tensor& signs,
                         const std::vector<int64_t>& geom, int64_t mode, double gain, double slope, double clamp) {
  TORCH_CHECK(x.device().is_cpu(), "emulation: x must be a CPU tensor");
  resample_check(x, bias, fa, fa_y, fc, fc_y, signs, geom, mode);
  at::Tensor y = resample_output(x, geom);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "resample_emulated", [&] {
    using T = typename OpMath<scalar_t>::type;
    const auto s = resample_setup<scalar_t>(x, y, bias, fa, fa_y, fc, fc_y, signs, geom, mode, gain, slope, clamp,
                                            48 * 1024);
    std::vector<T> smem(s.smem_bytes / sizeof(T) + 1);
    for (int64_t block = 0; block < s.blocks; ++block) {
      std::fill(smem.begin(), smem.end(), std::numeric_limits<T>::quiet_NaN());
      resample_block<scalar_t, T>(s.p, smem.data(), block);
    }
  });
  return y;
}

at::Tensor bias_act_cuda(const at::Tensor& x, const at::Tensor& b, const at::Tensor& xref, const at::Tensor& dy,
                         int64_t act, int64_t grad, double alpha, double gain, double clamp, int64_t dim) {
  TORCH_CHECK(x.device().is_cpu(), "emulation: x must be a CPU tensor");
  bias_act_check(x, b, xref, dy, act, grad, dim);
  at::Tensor out = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_emulated", [&] {
    const auto p = bias_act_params<scalar_t>(x, b, xref, dy, out, act, grad, alpha, gain, clamp, dim);
    for (int64_t i = 0; i < p.numel; ++i) bias_act_element<scalar_t>(p, i);
  });
  return out;
}

}  // namespace gf

static at::Tensor upfirdn2d(const at::Tensor& x, const at::Tensor& fa, const at::Tensor& fa_y, const at::Tensor& fc,
                            const at::Tensor& fc_y, std::vector<int64_t> geom) {
  const at::Tensor none = at::empty({0}, x.options());
  const at::Tensor no_signs = at::empty({0}, x.options().dtype(at::kByte));
  return gf::resample_cuda(x, none, fa, fa_y, fc, fc_y, no_signs, geom, gf::kLinear, 1.0, 1.0, -1.0);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("upfirdn2d", &upfirdn2d);
  m.def("filtered_lrelu", &gf::resample_cuda);
  m.def("bias_act", &gf::bias_act_cuda);
}

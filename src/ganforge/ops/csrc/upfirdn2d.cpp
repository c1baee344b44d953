// Python binding of the compiled upfirdn2d op (ganforge/ops/upfirdn2d.py builds the geometry).
#include <torch/extension.h>

#include "resample.h"

static at::Tensor upfirdn2d(const at::Tensor& x, const at::Tensor& fa, const at::Tensor& fa_y, const at::Tensor& fc,
                            const at::Tensor& fc_y, std::vector<int64_t> geom) {
  const at::Tensor none = at::empty({0}, x.options());
  const at::Tensor no_signs = at::empty({0}, x.options().dtype(at::kByte));
  return gf::resample_cuda(x, none, fa, fa_y, fc, fc_y, no_signs, geom, gf::kLinear, 1.0, 1.0, -1.0);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("upfirdn2d", &upfirdn2d, "upfirdn2d(x, fa, fa_y, fc, fc_y, geometry) -> y (two-stage resampling kernel)");
}

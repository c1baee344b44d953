// Python binding of the compiled filtered_lrelu op (ganforge/ops/filtered_lrelu.py builds the geometry).
#include <torch/extension.h>

#include "resample.h"

static at::Tensor filtered_lrelu(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& fa,
                                 const at::Tensor& fa_y, const at::Tensor& fc, const at::Tensor& fc_y,
                                 const at::Tensor& signs, std::vector<int64_t> geom, int64_t mode, double gain,
                                 double slope, double clamp) {
  return gf::resample_cuda(x, bias, fa, fa_y, fc, fc_y, signs, geom, mode, gain, slope, clamp);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("filtered_lrelu", &filtered_lrelu,
        "filtered_lrelu(x, bias, fa, fa_y, fc, fc_y, signs, geometry, mode, gain, slope, clamp) -> y");
}

// Python binding of the compiled bias_act op (ganforge/ops/bias_act.py holds the autograd logic).
#include <torch/extension.h>

#include "bias_act.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("bias_act", &gf::bias_act_cuda,
        "bias_act(x, b, xref, dy, act, grad, alpha, gain, clamp, dim) -> y; grad 0: forward, 1/2: derivatives");
}

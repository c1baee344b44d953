// Element-wise bias + activation + gain + clamp, and its first and second derivatives.
//
//   grad 0:  out = clamp(act(x + b) * gain)
//   grad 1:  out = x * act'(xref + b) * gain * [|act(xref + b) * gain| <= clamp]       (x: incoming gradient)
//   grad 2:  out = x * dy * act''(xref + b) * gain * [|act(xref + b) * gain| <= clamp] (x: gradient of grad 1's output)
//
// Tensors are dense and share strides; element i is the i-th element in memory and its bias index
// is (i / stride_b) % size_b, which holds for any dense layout (NCHW or channels_last).
#pragma once

#include "common.h"

namespace gf {

enum Act : int { kActLinear = 1, kActRelu, kActLrelu, kActTanh, kActSigmoid, kActElu, kActSelu, kActSoftplus, kActSwish };

template <typename T>
struct BiasActParams {
  const void* x;
  const void* b;     // [size_b] or null
  const void* xref;  // grad 1/2
  const void* dy;    // grad 2
  void* out;
  int64_t numel, step_b;
  int size_b, act, grad;
  T alpha, gain, clamp;  // clamp < 0: none
};

// Value, first and second derivative of an activation at s.
template <typename T>
GF_HD GF_INLINE void activation(int act, T s, T alpha, T& f, T& d1, T& d2) {
  const T one = T(1), zero = T(0);
  switch (act) {
    case kActRelu:
      f = s > zero ? s : zero, d1 = s > zero ? one : zero, d2 = zero;
      break;
    case kActLrelu:
      f = s > zero ? s : s * alpha, d1 = s > zero ? one : alpha, d2 = zero;
      break;
    case kActTanh: {
      const T t = gf_tanh(s);
      f = t, d1 = one - t * t, d2 = T(-2) * t * (one - t * t);
      break;
    }
    case kActSigmoid: {
      const T g = one / (one + gf_exp(-s));
      f = g, d1 = g * (one - g), d2 = g * (one - g) * (one - T(2) * g);
      break;
    }
    case kActElu: {
      const T e = gf_exp(s);
      f = s > zero ? s : e - one, d1 = s > zero ? one : e, d2 = s > zero ? zero : e;
      break;
    }
    case kActSelu: {
      const T scale = T(1.0507009873554804934193349852946), a = T(1.6732632423543772848170429916717);
      const T e = gf_exp(s);
      f = s > zero ? scale * s : scale * a * (e - one), d1 = s > zero ? scale : scale * a * e;
      d2 = s > zero ? zero : scale * a * e;
      break;
    }
    case kActSoftplus: {  // PyTorch's softplus (beta 1, threshold 20)
      const T g = one / (one + gf_exp(-s));
      f = s > T(20) ? s : gf_log1p(gf_exp(s)), d1 = g, d2 = g * (one - g);
      break;
    }
    case kActSwish: {
      const T g = one / (one + gf_exp(-s));
      f = s * g, d1 = g * (one + s * (one - g)), d2 = g * (one - g) * (T(2) + s * (one - T(2) * g));
      break;
    }
    default:  // linear
      f = s, d1 = one, d2 = zero;
  }
}

template <typename scalar_t, typename T>
GF_HD GF_INLINE void bias_act_element(const BiasActParams<T>& p, int64_t i) {
  const T bias = p.b ? static_cast<T>(static_cast<const scalar_t*>(p.b)[(i / p.step_b) % p.size_b]) : T(0);
  const T v = static_cast<T>(static_cast<const scalar_t*>(p.x)[i]);
  T f, d1, d2, out;
  if (p.grad == 0) {
    activation<T>(p.act, v + bias, p.alpha, f, d1, d2);
    out = f * p.gain;
    if (p.clamp >= T(0)) out = out > p.clamp ? p.clamp : (out < -p.clamp ? -p.clamp : out);
  } else {
    const T s = static_cast<T>(static_cast<const scalar_t*>(p.xref)[i]) + bias;
    activation<T>(p.act, s, p.alpha, f, d1, d2);
    const T y = f * p.gain;
    if (p.clamp >= T(0) && (y > p.clamp || y < -p.clamp)) {
      out = T(0);
    } else if (p.grad == 1) {
      out = v * d1 * p.gain;
    } else {
      out = v * static_cast<T>(static_cast<const scalar_t*>(p.dy)[i]) * d2 * p.gain;
    }
  }
  static_cast<scalar_t*>(p.out)[i] = static_cast<scalar_t>(out);
}

}  // namespace gf

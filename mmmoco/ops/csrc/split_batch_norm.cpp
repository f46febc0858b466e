// Split batch norm on CPU: per-sub-batch batch statistics in one call per layer.
//
// The batch of N samples is cut into S contiguous sub-batches (the first N % S hold one
// sample more, as mmmoco.models.utils.norm.split_sizes); every (sub-batch, channel) pair is
// normalised with its own mean and biased variance. The input is float32 or bfloat16, NCHW
// contiguous or channels_last; statistics and affine factors are float32. Sub-batches are
// independent, so they are spread over the intra-op threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int64_t kLanes = 8;  // independent partial sums (NCHW planes) per accumulator
constexpr int64_t kBlockRows = 256;  // channels_last rows summed apart before joining the total

// First sample index of each sub-batch, and N at the end.
std::vector<int64_t> split_bounds(int64_t batch, int64_t num_splits) {
  const int64_t splits = std::min(batch, num_splits);
  const int64_t small = batch / splits, larger = batch % splits;
  std::vector<int64_t> bounds(splits + 1, 0);
  for (int64_t k = 0; k < splits; ++k) bounds[k + 1] = bounds[k] + small + (k < larger ? 1 : 0);
  return bounds;
}

// Per channel over a sub-batch: the sums of (u - u_shift) and of (u - u_shift) * (v - v_shift).
// Forward: u = v = x shifted by a pivot (the sum and the sum of squares); backward: u = the
// output gradient unshifted, v = x shifted by the mean.
// channels_last: rows of C values; NCHW: planes of hw values per (sample, channel), summed in
// kLanes independent partial sums.
template <typename T>
void paired_sums(const T* u, const T* v, int64_t first, int64_t last, int64_t channels,
                 int64_t hw, bool channels_last, const float* u_shift, const float* v_shift,
                 float* sum_u, float* sum_uv) {
  std::fill(sum_u, sum_u + channels, 0.f);
  std::fill(sum_uv, sum_uv + channels, 0.f);
  if (channels_last) {  // blocks of rows: the float error grows with a block, not the batch
    std::vector<float> block_u(channels), block_uv(channels);
    for (int64_t start = first * hw; start < last * hw; start += kBlockRows) {
      std::fill(block_u.begin(), block_u.end(), 0.f);
      std::fill(block_uv.begin(), block_uv.end(), 0.f);
      const int64_t stop = std::min(start + kBlockRows, last * hw);
      for (int64_t row = start; row < stop; ++row) {
        const T* ur = u + row * channels;
        const T* vr = v + row * channels;
        for (int64_t c = 0; c < channels; ++c) {
          const float du = static_cast<float>(ur[c]) - u_shift[c];
          block_u[c] += du;
          block_uv[c] += du * (static_cast<float>(vr[c]) - v_shift[c]);
        }
      }
      for (int64_t c = 0; c < channels; ++c) {
        sum_u[c] += block_u[c];
        sum_uv[c] += block_uv[c];
      }
    }
    return;
  }
  for (int64_t n = first; n < last; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t offset = (n * channels + c) * hw;
      float su[kLanes] = {0.f}, suv[kLanes] = {0.f};
      int64_t i = 0;
      for (; i + kLanes <= hw; i += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l) {
          const float du = static_cast<float>(u[offset + i + l]) - u_shift[c];
          su[l] += du;
          suv[l] += du * (static_cast<float>(v[offset + i + l]) - v_shift[c]);
        }
      }
      for (; i < hw; ++i) {
        const float du = static_cast<float>(u[offset + i]) - u_shift[c];
        su[0] += du;
        suv[0] += du * (static_cast<float>(v[offset + i]) - v_shift[c]);
      }
      for (int64_t l = 0; l < kLanes; ++l) {
        sum_u[c] += su[l];
        sum_uv[c] += suv[l];
      }
    }
  }
}

// out = a * x + b per channel, over a sub-batch.
template <typename T>
void affine(const T* x, T* out, int64_t first, int64_t last, int64_t channels, int64_t hw,
            bool channels_last, const float* a, const float* b) {
  if (channels_last) {
    for (int64_t row = first * hw; row < last * hw; ++row) {
      const T* in = x + row * channels;
      T* o = out + row * channels;
      for (int64_t c = 0; c < channels; ++c) {
        o[c] = static_cast<T>(static_cast<float>(in[c]) * a[c] + b[c]);
      }
    }
    return;
  }
  for (int64_t n = first; n < last; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t offset = (n * channels + c) * hw;
      for (int64_t i = 0; i < hw; ++i) {
        out[offset + i] = static_cast<T>(static_cast<float>(x[offset + i]) * a[c] + b[c]);
      }
    }
  }
}

// grad_x = g * k1 + x * k2 + k3 per channel, over a sub-batch.
template <typename T>
void grad_input(const T* g, const T* x, T* out, int64_t first, int64_t last, int64_t channels,
                int64_t hw, bool channels_last, const float* k1, const float* k2, const float* k3) {
  if (channels_last) {
    for (int64_t row = first * hw; row < last * hw; ++row) {
      const T* gr = g + row * channels;
      const T* xr = x + row * channels;
      T* o = out + row * channels;
      for (int64_t c = 0; c < channels; ++c) {
        o[c] = static_cast<T>(static_cast<float>(gr[c]) * k1[c] +
                              static_cast<float>(xr[c]) * k2[c] + k3[c]);
      }
    }
    return;
  }
  for (int64_t n = first; n < last; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t offset = (n * channels + c) * hw;
      for (int64_t i = 0; i < hw; ++i) {
        out[offset + i] = static_cast<T>(static_cast<float>(g[offset + i]) * k1[c] +
                                         static_cast<float>(x[offset + i]) * k2[c] + k3[c]);
      }
    }
  }
}

template <typename T>
void forward_kernel(const T* x, T* y, const float* weight, const float* bias, float* mean,
                    float* invstd, float* variance, const std::vector<int64_t>& bounds,
                    int64_t channels, int64_t hw, bool channels_last, double eps) {
  const int64_t splits = static_cast<int64_t>(bounds.size()) - 1;
  at::parallel_for(0, splits, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> pivot(channels), sum(channels), sumsq(channels), a(channels), b(channels);
    for (int64_t s = begin; s < end; ++s) {
      const int64_t first = bounds[s], last = bounds[s + 1];
      for (int64_t c = 0; c < channels; ++c) {  // the first value of the channel: a shift that
        pivot[c] = static_cast<float>(           // keeps E[d^2] - E[d]^2 free of cancellation
            channels_last ? x[first * hw * channels + c] : x[(first * channels + c) * hw]);
      }
      paired_sums(x, x, first, last, channels, hw, channels_last, pivot.data(), pivot.data(),
                  sum.data(), sumsq.data());
      const float count = static_cast<float>((last - first) * hw);
      float* mu = mean + s * channels;
      float* inv = invstd + s * channels;
      for (int64_t c = 0; c < channels; ++c) {
        const float shift = sum[c] / count;
        const float var = std::max(sumsq[c] / count - shift * shift, 0.f);
        variance[s * channels + c] = var;
        mu[c] = pivot[c] + shift;
        inv[c] = 1.f / std::sqrt(var + static_cast<float>(eps));
        a[c] = inv[c] * (weight ? weight[c] : 1.f);
        b[c] = (bias ? bias[c] : 0.f) - mu[c] * a[c];
      }
      affine(x, y, first, last, channels, hw, channels_last, a.data(), b.data());
    }
  });
}

template <typename T>
void backward_kernel(const T* g, const T* x, T* grad_x, const float* weight, const float* mean,
                     const float* invstd, float* grad_weight, float* grad_bias,
                     const std::vector<int64_t>& bounds, int64_t channels, int64_t hw,
                     bool channels_last) {
  const int64_t splits = static_cast<int64_t>(bounds.size()) - 1;
  at::parallel_for(0, splits, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> k1(channels), k2(channels), k3(channels), zero(channels, 0.f);
    for (int64_t s = begin; s < end; ++s) {
      const int64_t first = bounds[s], last = bounds[s + 1];
      const float count = static_cast<float>((last - first) * hw);
      const float* mu = mean + s * channels;
      const float* inv = invstd + s * channels;
      float* sum_g = grad_bias + s * channels;    // per sub-batch, summed by the caller
      float* sum_gx = grad_weight + s * channels;
      paired_sums(g, x, first, last, channels, hw, channels_last, zero.data(), mu, sum_g,
                  sum_gx);
      for (int64_t c = 0; c < channels; ++c) {
        const float scale = inv[c] * (weight ? weight[c] : 1.f);
        k1[c] = scale;
        k2[c] = -scale * inv[c] * inv[c] * sum_gx[c] / count;
        k3[c] = -scale * sum_g[c] / count - mu[c] * k2[c];
        sum_gx[c] *= inv[c];  // sum of g * x_hat: the weight's gradient
      }
      grad_input(g, x, grad_x, first, last, channels, hw, channels_last, k1.data(), k2.data(),
                 k3.data());
    }
  });
}

// Calls f with a value of the C++ element type of a float32 or bfloat16 tensor.
template <typename F>
void with_element_type(at::ScalarType type, F&& f) {
  if (type == at::kBFloat16) {
    f(c10::BFloat16());
  } else {
    f(float());
  }
}

bool is_channels_last(const at::Tensor& x) {
  return !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

void check_input(const at::Tensor& x, int64_t num_splits) {
  TORCH_CHECK(x.device().is_cpu(), "split_batch_norm: a CPU tensor is needed");
  TORCH_CHECK(x.dim() == 4, "split_batch_norm: input must be (N, C, H, W), got ", x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16,
              "split_batch_norm: float32 or bfloat16 input, got ", x.scalar_type());
  TORCH_CHECK(x.is_contiguous() || x.is_contiguous(at::MemoryFormat::ChannelsLast),
              "split_batch_norm: input must be contiguous (NCHW or channels_last)");
  TORCH_CHECK(num_splits >= 1 && x.numel() > 0,
              "split_batch_norm: num_splits >= 1 and a non-empty input, got ", x.sizes());
}

void check_per_channel(const c10::optional<at::Tensor>& t, int64_t channels, const char* what) {
  TORCH_CHECK(!t.has_value() || !t->defined() || t->numel() == channels, "split_batch_norm: ",
              what, " must hold ", channels, " values, got ", t->numel());
}

c10::optional<at::Tensor> contiguous_or_none(const c10::optional<at::Tensor>& t) {
  if (!t.has_value() || !t->defined()) return c10::nullopt;
  TORCH_CHECK(t->scalar_type() == at::kFloat, "split_batch_norm: float32 weight and bias");
  return t->contiguous();
}

const float* optional_data(const c10::optional<at::Tensor>& t) {
  return t.has_value() ? t->data_ptr<float>() : nullptr;
}

// One momentum update of the running statistics with the mean over the sub-batches of their
// means and unbiased variances (what averaging S separately updated buffers gives).
void update_running_stats(at::Tensor& running_mean, at::Tensor& running_var, const float* mean,
                          const float* variance, const std::vector<int64_t>& bounds,
                          int64_t channels, int64_t hw, double momentum) {
  TORCH_CHECK(running_mean.scalar_type() == at::kFloat && running_var.scalar_type() == at::kFloat &&
                  running_mean.is_contiguous() && running_var.is_contiguous(),
              "split_batch_norm: running statistics must be contiguous float32");
  const int64_t splits = static_cast<int64_t>(bounds.size()) - 1;
  float* rm = running_mean.data_ptr<float>();
  float* rv = running_var.data_ptr<float>();
  const float m = static_cast<float>(momentum);
  for (int64_t c = 0; c < channels; ++c) {
    float mean_sum = 0.f, var_sum = 0.f;
    for (int64_t s = 0; s < splits; ++s) {
      const float count = static_cast<float>((bounds[s + 1] - bounds[s]) * hw);
      mean_sum += mean[s * channels + c];
      var_sum += variance[s * channels + c] * count / std::max(count - 1.f, 1.f);
    }
    rm[c] = (1.f - m) * rm[c] + m * mean_sum / static_cast<float>(splits);
    rv[c] = (1.f - m) * rv[c] + m * var_sum / static_cast<float>(splits);
  }
}

// Returns (y, mean (S, C), invstd (S, C)); updates the running statistics when given.
std::tuple<at::Tensor, at::Tensor, at::Tensor> split_bn_forward(
    const at::Tensor& x, const c10::optional<at::Tensor>& weight,
    const c10::optional<at::Tensor>& bias, c10::optional<at::Tensor> running_mean,
    c10::optional<at::Tensor> running_var, int64_t num_splits, double momentum, double eps) {
  check_input(x, num_splits);
  const bool channels_last = is_channels_last(x);
  const int64_t channels = x.size(1), hw = x.size(2) * x.size(3);
  check_per_channel(weight, channels, "weight");
  check_per_channel(bias, channels, "bias");
  check_per_channel(running_mean, channels, "running_mean");
  check_per_channel(running_var, channels, "running_var");
  const auto bounds = split_bounds(x.size(0), num_splits);
  const int64_t splits = static_cast<int64_t>(bounds.size()) - 1;
  auto y = at::empty_like(x);
  const auto stats = x.options().dtype(at::kFloat);
  auto mean = at::empty({splits, channels}, stats), invstd = at::empty({splits, channels}, stats);
  std::vector<float> variance(splits * channels);
  const auto w = contiguous_or_none(weight), b = contiguous_or_none(bias);
  with_element_type(x.scalar_type(), [&](auto element) {
    using T = decltype(element);
    forward_kernel(x.data_ptr<T>(), y.data_ptr<T>(), optional_data(w), optional_data(b),
                   mean.data_ptr<float>(), invstd.data_ptr<float>(), variance.data(), bounds,
                   channels, hw, channels_last, eps);
  });
  if (running_mean.has_value() && running_mean->defined()) {
    TORCH_CHECK(running_var.has_value() && running_var->defined(),
                "split_batch_norm: running_mean without running_var");
    update_running_stats(*running_mean, *running_var, mean.data_ptr<float>(), variance.data(),
                         bounds, channels, hw, momentum);
  }
  return {y, mean, invstd};
}

// Returns (grad_x, grad_weight (C), grad_bias (C)).
std::tuple<at::Tensor, at::Tensor, at::Tensor> split_bn_backward(
    const at::Tensor& grad, const at::Tensor& x, const c10::optional<at::Tensor>& weight,
    const at::Tensor& mean, const at::Tensor& invstd, int64_t num_splits) {
  check_input(x, num_splits);
  const bool channels_last = is_channels_last(x);
  const auto g = grad.to(x.scalar_type()).contiguous(
      channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
  const int64_t channels = x.size(1), hw = x.size(2) * x.size(3);
  const auto bounds = split_bounds(x.size(0), num_splits);
  auto grad_x = at::empty_like(x);
  auto grad_weight = at::empty_like(mean), grad_bias = at::empty_like(mean);
  const auto w = contiguous_or_none(weight);
  const auto m = mean.contiguous(), inv = invstd.contiguous();
  with_element_type(x.scalar_type(), [&](auto element) {
    using T = decltype(element);
    backward_kernel(g.data_ptr<T>(), x.data_ptr<T>(), grad_x.data_ptr<T>(), optional_data(w),
                    m.data_ptr<float>(), inv.data_ptr<float>(), grad_weight.data_ptr<float>(),
                    grad_bias.data_ptr<float>(), bounds, channels, hw, channels_last);
  });
  return {grad_x, grad_weight.sum(0), grad_bias.sum(0)};
}

// Autograd of the whole layer: one graph node per layer, the backward in one native call.
class SplitBatchNormFunction : public torch::autograd::Function<SplitBatchNormFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const c10::optional<at::Tensor>& weight,
                            const c10::optional<at::Tensor>& bias,
                            const c10::optional<at::Tensor>& running_mean,
                            const c10::optional<at::Tensor>& running_var, int64_t num_splits,
                            double momentum, double eps) {
    auto [y, mean, invstd] = split_bn_forward(x, weight, bias, running_mean, running_var,
                                              num_splits, momentum, eps);
    ctx->save_for_backward({x, weight.value_or(at::Tensor()), mean, invstd});
    ctx->saved_data["num_splits"] = num_splits;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "split_batch_norm: the native split batch norm has no double backward "
                "(create_graph=True); set MMMOCO_NATIVE_OPS=0 to use the PyTorch path");
    const auto saved = ctx->get_saved_variables();
    auto [grad_x, grad_weight, grad_bias] = split_bn_backward(
        grads[0], saved[0], optional(saved[1]), saved[2], saved[3],
        ctx->saved_data["num_splits"].toInt());
    const bool affine = saved[1].defined();  // weight and bias come together (the caller checks)
    return {grad_x, affine ? grad_weight : at::Tensor(), affine ? grad_bias : at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }

 private:
  static c10::optional<at::Tensor> optional(const at::Tensor& t) {
    return t.defined() ? c10::optional<at::Tensor>(t) : c10::nullopt;
  }
};

at::Tensor split_batch_norm(const at::Tensor& x, const c10::optional<at::Tensor>& weight,
                            const c10::optional<at::Tensor>& bias,
                            const c10::optional<at::Tensor>& running_mean,
                            const c10::optional<at::Tensor>& running_var, int64_t num_splits,
                            double momentum, double eps) {
  return std::get<0>(split_bn_forward(x, weight, bias, running_mean, running_var, num_splits,
                                      momentum, eps));
}

at::Tensor split_batch_norm_autograd(const at::Tensor& x, const c10::optional<at::Tensor>& weight,
                                     const c10::optional<at::Tensor>& bias,
                                     const c10::optional<at::Tensor>& running_mean,
                                     const c10::optional<at::Tensor>& running_var,
                                     int64_t num_splits, double momentum, double eps) {
  return SplitBatchNormFunction::apply(x, weight, bias, running_mean, running_var, num_splits,
                                       momentum, eps);
}

}  // namespace

TORCH_LIBRARY(mmmoco_split_bn, m) {
  m.def("split_batch_norm(Tensor x, Tensor? weight, Tensor? bias, Tensor(a!)? running_mean, "
        "Tensor(b!)? running_var, int num_splits, float momentum, float eps) -> Tensor");
}

TORCH_LIBRARY_IMPL(mmmoco_split_bn, CPU, m) {
  m.impl("split_batch_norm", &split_batch_norm);
}

TORCH_LIBRARY_IMPL(mmmoco_split_bn, Autograd, m) {
  m.impl("split_batch_norm", &split_batch_norm_autograd);
}

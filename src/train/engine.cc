#include "gift/train/engine.h"

#include <algorithm>

#include "gift/core/error.h"
#include "gift/train/loss.h"

namespace gift {
namespace {

// One weight-gradient task: rows [o_begin, o_end) of layer `layer`'s weights (and bias).
struct GradTask {
  size_t layer;
  int o_begin, o_end;
};

template <class T>
std::vector<GradTask> grad_tasks(const NetworkT<T>& net, int rows) {
  std::vector<GradTask> tasks;
  for (size_t l = 0; l < net.num_layers(); ++l) {
    const int O = net.arch().sizes[l + 1];
    for (int o = 0; o < O; o += rows) tasks.push_back({l, o, std::min(O, o + rows)});
  }
  return tasks;
}

// What the weight gradients need stacked over the batch, as (layer, part): part 0 du, 1 dq,
// 2 the layer's input, 3 its square (1 and 3 under weight noise only; layer 0's input is x),
// 4 dz and 5 u (physical chain), 6 dp (shot or rin). Under in_add the input is the noisy one
// of the tape, stacked for layer 0 too.
constexpr size_t kParts = 7;
std::vector<std::pair<size_t, int>> stack_parts(const NoiseModel& noise, size_t L, bool physical) {
  std::vector<std::pair<size_t, int>> parts;
  for (size_t l = 0; l < L; ++l) {
    const LayerNoise& n = noise.layers[l];
    parts.push_back({l, 0});
    if (l > 0 || n.in_add > 0) parts.push_back({l, 2});
    if (n.weight > 0) {
      parts.push_back({l, 1});
      parts.push_back({l, 3});
    }
    if (physical) {
      parts.push_back({l, 4});
      parts.push_back({l, 5});
    }
    if (n.shot > 0 || n.rin > 0) parts.push_back({l, 6});
  }
  return parts;
}

// out (B x n) = part `what` of layer l, stacked from the first `blocks` tapes (row blocks of
// kRowBlock rows, in order).
template <class T>
void stack_part(MatT<T>& out, const std::vector<Tape<T>>& tapes, int blocks, int B, size_t l,
                int what, int block_rows) {
  const auto part = [&](const Tape<T>& t) -> const MatT<T>& {
    const LayerTape<T>& lt = t.layers[l];
    switch (what) {
      case 0:
        return lt.du;
      case 1:
        return lt.dq;
      case 2:
        return t.input(l);
      case 3:
        return lt.x_sq;
      case 4:
        return lt.dz;
      case 5:
        return lt.u;
      default:
        return lt.dp;
    }
  };
  out.resize(B, part(tapes[0]).cols());
  for (int k = 0; k < blocks; ++k) {
    const MatT<T>& p = part(tapes[static_cast<size_t>(k)]);
    out.middleRows(k * block_rows, p.rows()) = p;
  }
}

// The gradient of one task's rows of its layer's parameters from the batch's stacked parts `s`
// of that layer (du, dq, input, input squared, dz, u, dp; layer 0's input is x itself unless
// the input modulator is noisy).
template <class T>
void task_grad(VecT<T>& grad, const NetworkT<T>& net, const NoiseModel& noise, const GradTask& t,
               const MatT<T>* s, const Eigen::Ref<const MatT<T>>& x) {
  LayerGradExtras<T> ex;
  ex.dq = &s[1];
  ex.x_sq = &s[3];
  ex.dz = &s[4];
  ex.u = &s[5];
  ex.dp = &s[6];
  if (t.layer == 0 && noise.layers[0].in_add <= 0) {
    layer_grad<T>(grad, net, noise, t.layer, t.o_begin, t.o_end, s[0], x, ex);
  } else {
    layer_grad<T>(grad, net, noise, t.layer, t.o_begin, t.o_end, s[0], s[2], ex);
  }
}

}  // namespace

template <class T>
BatchResult EngineT<T>::loss_and_grad(const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x,
                                      const int* labels, const NoiseModel& noise,
                                      const NoiseDraws& draws, VecT<T>& grad) {
  const int B = static_cast<int>(x.rows());
  if (B == 0) throw InputError("loss_and_grad: empty batch");
  const size_t L = net.num_layers();
  const int blocks = (B + kRowBlock - 1) / kRowBlock;
  if (static_cast<int>(tapes_.size()) < blocks) tapes_.resize(static_cast<size_t>(blocks));
  if (dlogits_.size() < tapes_.size()) dlogits_.resize(tapes_.size());
  std::vector<double> losses(static_cast<size_t>(blocks), 0.0);
  std::vector<int> corrects(static_cast<size_t>(blocks), 0);
  const T scale = T(1) / static_cast<T>(B);
  weight_stats(w_stats_, net, noise);
  grad.setZero(net.params().size());
  const std::vector<GradTask> tasks = grad_tasks(net, kGradRows);
  // The batch's du, dq, layer inputs and their squares, stacked from the row blocks so that
  // each weight gradient is one product over all B rows (layer 0's input is x itself).
  stacked_.resize(kParts * L);
  const std::vector<std::pair<size_t, int>> stacks = stack_parts(noise, L, net.has_gain());
  const auto stack = [&](size_t l, int what) {
    stack_part(stacked_[kParts * l + static_cast<size_t>(what)], tapes_, blocks, B, l, what,
               kRowBlock);
  };
  std::exception_ptr error;
  const auto guard = [&](auto&& f) {
    try {
      f();
    } catch (...) {
#pragma omp critical
      error = std::current_exception();
    }
  };
#pragma omp parallel num_threads(threads_)
  {
    const FlushSubnormals ftz;  // per thread, restored when the region ends
#pragma omp for schedule(dynamic, 1)
    for (int k = 0; k < blocks; ++k) {
      guard([&] {
        const int r0 = k * kRowBlock, n = std::min(kRowBlock, B - r0);
        NoiseDraws d = draws;
        d.first_sample += static_cast<uint64_t>(r0);
        Tape<T>& tape = tapes_[static_cast<size_t>(k)];
        MatT<T>& dlogits = dlogits_[static_cast<size_t>(k)];
        network_forward<T>(tape, net, x.middleRows(r0, n), noise, &d, &w_stats_);
        losses[static_cast<size_t>(k)] = softmax_xent(tape.logits(), labels + r0, &dlogits, scale,
                                                      &corrects[static_cast<size_t>(k)]);
        network_backward<T>(tape, net, noise, dlogits, nullptr, &w_stats_);
      });
    }
    if (!error) {
#pragma omp for schedule(dynamic, 1)
      for (size_t i = 0; i < stacks.size(); ++i)
        guard([&] { stack(stacks[i].first, stacks[i].second); });
#pragma omp for schedule(dynamic, 1)
      for (size_t i = 0; i < tasks.size(); ++i) {
        guard(
            [&] { task_grad(grad, net, noise, tasks[i], &stacked_[kParts * tasks[i].layer], x); });
      }
    }
  }
  if (error) std::rethrow_exception(error);
  BatchResult result;
  for (int k = 0; k < blocks; ++k) {
    result.loss += losses[static_cast<size_t>(k)];
    result.correct += corrects[static_cast<size_t>(k)];
  }
  result.loss /= B;
  return result;
}

template <class T>
double EngineT<T>::predict(const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x,
                           const int* labels, const NoiseModel& noise, const NoiseDraws& draws,
                           int* pred) {
  double loss = 0;
  predict_repeats(net, x, labels, noise, draws, 1, pred, labels ? &loss : nullptr);
  return loss;
}

template <class T>
void EngineT<T>::predict_repeats(const NetworkT<T>& net, const Eigen::Ref<const MatT<T>>& x,
                                 const int* labels, const NoiseModel& noise,
                                 const NoiseDraws& draws, int repeats, int* pred, double* losses) {
  const Eigen::Index N = x.rows();
  constexpr int kPredictBlock = 256;
  const int blocks = static_cast<int>((N + kPredictBlock - 1) / kPredictBlock);
  // Loss of (repeat, block), summed per repeat in block order.
  std::vector<double> block_loss(
      static_cast<size_t>(std::max(blocks, 0)) * static_cast<size_t>(repeats), 0.0);
  WeightStats<T> w_sq;  // local: predict keeps no state, so calls may run concurrently
  weight_stats(w_sq, net, noise);
  std::exception_ptr error;
#pragma omp parallel num_threads(threads_)
  {
    Tape<T> tape;
    FirstLayer<T> first;
    const FlushSubnormals ftz;
#pragma omp for schedule(dynamic, 1)
    for (int k = 0; k < blocks; ++k) {
      try {
        const int r0 = k * kPredictBlock;
        const int n = static_cast<int>(std::min<Eigen::Index>(kPredictBlock, N - r0));
        first_layer<T>(first, net, x.middleRows(r0, n), noise, &w_sq);
        for (int p = 0; p < repeats; ++p) {
          NoiseDraws d = draws;
          d.call += static_cast<uint32_t>(p);
          d.first_sample += static_cast<uint64_t>(r0);
          network_forward_from<T>(tape, net, first, noise, d, &w_sq);
          argmax_rows(tape.logits(), pred + static_cast<size_t>(p) * static_cast<size_t>(N) + r0);
          if (labels && losses) {
            block_loss[static_cast<size_t>(p) * static_cast<size_t>(blocks) +
                       static_cast<size_t>(k)] =
                softmax_xent<T>(tape.logits(), labels + r0, nullptr, T(1), nullptr);
          }
        }
      } catch (...) {
#pragma omp critical
        error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
  if (!losses) return;
  for (int p = 0; p < repeats; ++p) {
    double total = 0;
    for (int k = 0; k < blocks; ++k) {
      total +=
          block_loss[static_cast<size_t>(p) * static_cast<size_t>(blocks) + static_cast<size_t>(k)];
    }
    losses[p] = total;
  }
}

template class EngineT<float>;
template class EngineT<double>;

}  // namespace gift

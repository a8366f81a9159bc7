// Golden test: forward outputs, loss and every gradient of a small noisy network
// match PyTorch (tests/reference/make_fixtures.py) to 1e-5 relative, with the
// fixture's noise draws fed in.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "gift/io/safetensors.h"
#include "gift/onn/forward.h"
#include "gift/train/loss.h"

namespace gift {
namespace {

using nlohmann::json;

MatD to_mat(const io::Tensor& t) {
  const Eigen::Index rows = t.shape.size() == 2 ? t.shape[0] : 1;
  const Eigen::Index cols =
      t.shape.size() == 2 ? t.shape[1] : static_cast<Eigen::Index>(t.values.size());
  MatD m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = t.values[static_cast<size_t>(i)];
  return m;
}

void expect_close(const MatD& got, const MatD& want, const std::string& what) {
  ASSERT_EQ(got.rows(), want.rows()) << what;
  ASSERT_EQ(got.cols(), want.cols()) << what;
  for (Eigen::Index i = 0; i < got.size(); ++i) {
    const double g = got.data()[i], w = want.data()[i];
    EXPECT_LE(std::abs(g - w), 1e-5 * std::max(std::abs(g), std::abs(w)) + 1e-12)
        << what << "[" << i << "]: got " << g << ", want " << w;
  }
}

class Golden : public ::testing::TestWithParam<const char*> {};

TEST_P(Golden, MatchesPyTorch) {
  const std::string path = std::string(GIFT_TEST_FIXTURES) + "/" + GetParam() + ".safetensors";
  const io::TensorFile f = io::read_safetensors(path);
  auto get = [&](const std::string& n) { return to_mat(io::get_tensor(f, n, path)); };
  auto meta = [&](const std::string& k) { return json::parse(io::get_metadata(f, k, path)); };

  const MatD x = get("x");
  Architecture arch;
  arch.chain = Chain::kLegacy;  // the PyTorch reference implements the legacy chain
  arch.sizes.push_back(static_cast<int>(x.cols()));
  const json acts = meta("activations");
  for (size_t l = 0; l < acts.size(); ++l) {
    arch.activations.push_back(parse_activation(acts[l].get<std::string>()));
    arch.sizes.push_back(static_cast<int>(get("b" + std::to_string(l)).cols()));
  }
  NetworkD net(arch);
  const size_t L = net.num_layers();
  NoiseModel noise = NoiseModel::none(L);
  // The fixtures hold the four sites of the legacy model (the others are 0).
  constexpr int kFixtureSites = 4;
  const char* keys[kFixtureSites] = {"std_weight", "std_sum_mult", "std_sum_add", "std_out_add"};
  const char* xi_names[kFixtureSites] = {"xi_w", "xi_m", "xi_a", "xi_o"};
  for (int s = 0; s < kFixtureSites; ++s) {
    const json v = meta(keys[s]);
    for (size_t l = 0; l < L; ++l)
      noise.layers[l].at(static_cast<NoiseSite>(s)) = v[l].get<double>();
  }
  noise.output_clip = std::stod(io::get_metadata(f, "output_clip", path));
  Tape<double> tape;
  tape.layers.resize(L);
  for (size_t l = 0; l < L; ++l) {
    net.weight(l) = get("W" + std::to_string(l));
    net.bias(l) = get("b" + std::to_string(l));
    for (int s = 0; s < kFixtureSites; ++s) {
      if (noise.layers[l].at(static_cast<NoiseSite>(s)) > 0) {
        tape.layers[l].xi[s] = get(xi_names[s] + std::to_string(l));
      }
    }
  }
  network_forward<double>(tape, net, x, noise, nullptr);
  for (size_t l = 0; l < L; ++l)
    expect_close(tape.layers[l].a, get("h" + std::to_string(l)), "h" + std::to_string(l));
  expect_close(tape.logits(), get("logits"), "logits");

  const MatD labels_d = get("labels");
  std::vector<int> labels;
  for (Eigen::Index i = 0; i < labels_d.size(); ++i)
    labels.push_back(static_cast<int>(labels_d.data()[i]));
  MatD dlogits, dx;
  const double loss =
      softmax_xent<double>(tape.logits(), labels.data(), &dlogits, 1.0 / x.rows(), nullptr) /
      x.rows();
  const double want_loss = io::get_tensor(f, "loss", path).values.at(0);
  EXPECT_NEAR(loss, want_loss, 1e-5 * std::abs(want_loss));

  network_backward<double>(tape, net, noise, dlogits, &dx);
  VecD grad = VecD::Zero(net.params().size());
  const std::vector<const Tape<double>*> tapes = {&tape};
  for (size_t l = 0; l < L; ++l)
    accumulate_layer_grad<double>(grad, net, noise, tapes, l, 0, arch.sizes[l + 1]);
  for (size_t l = 0; l < L; ++l) {
    const int O = arch.sizes[l + 1], I = arch.sizes[l];
    const MatD gW = Eigen::Map<const MatD>(grad.data() + net.weight_offset(l), O, I);
    const MatD gb = Eigen::Map<const MatD>(grad.data() + net.bias_offset(l), 1, O);
    expect_close(gW, get("grad_W" + std::to_string(l)), "grad_W" + std::to_string(l));
    expect_close(gb, get("grad_b" + std::to_string(l)), "grad_b" + std::to_string(l));
  }
  expect_close(dx, get("grad_x"), "grad_x");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Golden, ::testing::Values("noisy", "noiseless", "clipped"));

}  // namespace
}  // namespace gift

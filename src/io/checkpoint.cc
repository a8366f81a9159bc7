#include "gift/io/checkpoint.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <type_traits>

#include "gift/core/error.h"
#include "gift/core/version.h"
#include "gift/io/json.h"
#include "gift/io/model_json.h"
#include "gift/io/safetensors.h"

namespace gift::io {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "gift-checkpoint";
constexpr int kFormatVersion = 1;

// parse(), with an InputError's message prefixed by `what` (the file and metadata key).
template <class F>
auto named(const std::string& what, F&& parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const InputError& e) {
    throw InputError(what + ": " + e.what());
  }
}

// Whether `v` is a JSON integer that V (an integer type) holds exactly.
template <class V>
bool integer_fits(const json& v) {
  if (v.is_number_unsigned()) {
    return v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<V>::max());
  }
  return v.is_number_integer() && std::is_signed_v<V> &&
         v.get<int64_t>() >= static_cast<int64_t>(std::numeric_limits<V>::min());
}

json train_to_json(const TrainOptions& t) {
  const OptimizerOptions& o = t.optimizer;
  return {{"epochs", t.epochs},
          {"schedule", to_string(t.schedule)},
          {"batch_size", t.batch_size},
          {"seed", t.seed},
          {"optimizer",
           {{"kind", to_string(o.kind)},
            {"lr", o.lr},
            {"momentum", o.momentum},
            {"beta1", o.beta1},
            {"beta2", o.beta2},
            {"eps", o.eps},
            {"weight_decay", o.weight_decay}}}};
}

template <class V>
V field(const json& j, const char* key, V fallback, const std::string& what) {
  if (!j.contains(key)) return fallback;
  const json& v = j.at(key);
  // get<V>() would truncate a fraction, wrap a large integer and, for a float beyond V's
  // range, convert with undefined behaviour.
  if constexpr (std::is_integral_v<V>) {
    if (!integer_fits<V>(v)) {
      throw InputError(what + ": field '" + key + "' must be an integer in [" +
                       std::to_string(std::numeric_limits<V>::min()) + ", " +
                       std::to_string(std::numeric_limits<V>::max()) + "], found " + v.dump());
    }
  }
  try {
    return v.get<V>();
  } catch (const json::exception&) {
    throw InputError(what + ": field '" + key + "' has the wrong type: " + v.dump());
  }
}

TrainOptions train_from_json(const json& j, const std::string& file) {
  const std::string what = file + ": metadata 'train'";
  if (!j.is_object()) throw InputError(what + ": expected a JSON object");
  TrainOptions t;
  t.epochs = field(j, "epochs", t.epochs, what);
  t.batch_size = field(j, "batch_size", t.batch_size, what);
  t.schedule = named(
      what, [&] { return parse_lr_schedule(field<std::string>(j, "schedule", "cosine", what)); });
  t.seed = field(j, "seed", t.seed, what);
  if (j.contains("optimizer")) {
    const json& o = j["optimizer"];
    if (!o.is_object()) throw InputError(what + ": 'optimizer' must be an object");
    OptimizerOptions& p = t.optimizer;
    p.kind =
        named(what, [&] { return parse_optimizer(field<std::string>(o, "kind", "adam", what)); });
    p.lr = field(o, "lr", p.lr, what);
    p.momentum = field(o, "momentum", p.momentum, what);
    p.beta1 = field(o, "beta1", p.beta1, what);
    p.beta2 = field(o, "beta2", p.beta2, what);
    p.eps = field(o, "eps", p.eps, what);
    p.weight_decay = field(o, "weight_decay", p.weight_decay, what);
  }
  named(what, [&] {
    if (t.epochs < 0 || t.batch_size < 1) {
      throw InputError("epochs must be >= 0 and batch_size >= 1, found " +
                       std::to_string(t.epochs) + " and " + std::to_string(t.batch_size));
    }
    t.optimizer.validate();
    return 0;
  });
  return t;
}

io::Tensor flat_tensor(const float* data, size_t n, std::vector<int64_t> shape) {
  return io::make_tensor(io::DType::kF32, std::move(shape), std::vector<double>(data, data + n));
}

json parse_json_meta(const io::TensorFile& f, const std::string& key, const std::string& file) {
  return io::parse_json(io::get_metadata(f, key, file), file + ": metadata '" + key + "'");
}

long long parse_int_meta(const io::TensorFile& f, const std::string& key, const std::string& file) {
  const std::string& text = io::get_metadata(f, key, file);
  size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || v < 0) {
    throw InputError(file + ": metadata '" + key + "' must be a non-negative integer, found '" +
                     text + "'");
  }
  return v;
}

void check_shape(const io::Tensor& t, const std::vector<int64_t>& shape, const std::string& name,
                 const std::string& file) {
  if (t.shape != shape) {
    std::ostringstream os;
    os << file << ": tensor '" << name << "' has shape [";
    for (size_t i = 0; i < t.shape.size(); ++i) os << (i ? "," : "") << t.shape[i];
    os << "], expected [";
    for (size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
    os << "]";
    throw InputError(os.str());
  }
}

void copy_tensor(const io::Tensor& t, float* dst, const std::vector<int64_t>& shape,
                 const std::string& name, const std::string& file) {
  check_shape(t, shape, name, file);
  if (t.dtype != io::DType::kF32) {
    throw InputError(file + ": tensor '" + name + "' must be F32");
  }
  for (size_t i = 0; i < t.values.size(); ++i) {
    if (!std::isfinite(t.values[i])) {
      throw InputError(file + ": tensor '" + name + "' holds a non-finite value (NaN or inf) at " +
                       "index " + std::to_string(i));
    }
    dst[i] = static_cast<float>(t.values[i]);
  }
}

// The checkpoint in a parsed container; `path` labels error messages.
// Copies each layer's weight, bias (and, in the physical chain, gain) tensors of `f` into `net`,
// refusing values beyond the bounds Network::project() clips to (w_max; the modulator's range
// for biases of the physical chain).
void copy_layers(const io::TensorFile& f, Network& net, const std::string& path) {
  const size_t L = net.num_layers();
  for (size_t l = 0; l < L; ++l) {
    const std::string wn = "layers." + std::to_string(l) + ".weight";
    const std::string bn = "layers." + std::to_string(l) + ".bias";
    auto W = net.weight(l);
    auto b = net.bias(l);
    copy_tensor(io::get_tensor(f, wn, path), W.data(), {W.rows(), W.cols()}, wn, path);
    copy_tensor(io::get_tensor(f, bn, path), b.data(), {b.size()}, bn, path);
    if (net.has_gain()) {  // the physical chain's electronic gains
      const std::string gn = "layers." + std::to_string(l) + ".gain";
      auto g = net.gain(l);
      copy_tensor(io::get_tensor(f, gn, path), g.data(), {g.size()}, gn, path);
      const float bm = b.cwiseAbs().maxCoeff();
      if (bm > static_cast<float>(kModulatorMax)) {  // the bound Network::project() clips to
        std::ostringstream os;
        os << path << ": tensor '" << bn << "' holds |b| = " << bm << " beyond the modulator range "
           << kModulatorMax << " of the physical chain";
        throw InputError(os.str());
      }
    }
    const float m = W.cwiseAbs().maxCoeff();
    if (m > static_cast<float>(net.arch().w_max)) {  // the bound Network::project() clips to
      std::ostringstream os;
      os << path << ": tensor '" << wn << "' holds |w| = " << m << " beyond w_max "
         << net.arch().w_max;
      throw InputError(os.str());
    }
  }
}

Checkpoint checkpoint_from_file(const io::TensorFile& f, const std::string& path) {
  const std::string& format = io::get_metadata(f, "format", path);
  if (format != kFormat) {
    throw InputError(path + ": not a gift checkpoint (metadata format is '" + format +
                     "', expected '" + kFormat + "')");
  }
  const long long fv = parse_int_meta(f, "format_version", path);
  if (fv != kFormatVersion) {
    throw InputError(path + ": checkpoint format version " + std::to_string(fv) +
                     " is not supported (this gift reads version " +
                     std::to_string(kFormatVersion) + ")");
  }
  const Architecture arch = io::arch_from_json(parse_json_meta(f, "architecture", path),
                                               path + ": metadata 'architecture'");
  // The metadata may claim any widths up to 2^20 (2^40 parameters) in a file of a few bytes:
  // check that the tensors have the shapes it implies before allocating the network, so its
  // size is bounded by the file's.
  for (size_t l = 0; l < arch.num_layers(); ++l) {
    const std::string wn = "layers." + std::to_string(l) + ".weight";
    const std::string bn = "layers." + std::to_string(l) + ".bias";
    check_shape(io::get_tensor(f, wn, path), {arch.sizes[l + 1], arch.sizes[l]}, wn, path);
    check_shape(io::get_tensor(f, bn, path), {arch.sizes[l + 1]}, bn, path);
  }
  Checkpoint c;
  c.net = Network(arch);
  const size_t L = c.net.num_layers();
  c.train = train_from_json(parse_json_meta(f, "train", path), path);
  c.train.noise =
      io::noise_from_json(parse_json_meta(f, "noise", path), L, path + ": metadata 'noise'");
  if (f.metadata.count("dataset")) c.dataset = f.metadata.at("dataset");
  const long long epochs_done = parse_int_meta(f, "epochs_done", path);
  if (epochs_done > std::numeric_limits<int>::max()) {
    throw InputError(path + ": metadata 'epochs_done' is too large, found '" +
                     f.metadata.at("epochs_done") + "'");
  }
  c.state.epochs_done = static_cast<int>(epochs_done);
  size_t expected_tensors = (c.net.has_gain() ? 3 : 2) * L;
  copy_layers(f, c.net, path);
  const Eigen::Index P = c.net.params().size();
  if (f.tensors.count("optimizer.m")) {
    ++expected_tensors;
    c.state.optimizer.m.resize(P);
    copy_tensor(f.tensors.at("optimizer.m"), c.state.optimizer.m.data(), {P}, "optimizer.m", path);
    if (f.tensors.count("optimizer.v")) {
      ++expected_tensors;
      c.state.optimizer.v.resize(P);
      copy_tensor(f.tensors.at("optimizer.v"), c.state.optimizer.v.data(), {P}, "optimizer.v",
                  path);
    }
    c.state.optimizer.step = parse_int_meta(f, "optimizer_step", path);
  }
  if (f.tensors.size() != expected_tensors) {
    throw InputError(path + ": holds " + std::to_string(f.tensors.size()) + " tensors, expected " +
                     std::to_string(expected_tensors) + " for the architecture in its metadata");
  }
  for (const auto& [k, v] : f.metadata) {
    static const char* known[] = {
        "format", "format_version", "gift_version", "architecture",   "noise",
        "train",  "seed",           "epochs_done",  "optimizer_step", "dataset"};
    bool is_known = false;
    for (const char* kk : known) is_known = is_known || k == kk;
    if (!is_known) c.extra[k] = v;
  }
  return c;
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  const Network& net = c.net;
  if (!net.all_finite()) {
    throw InputError("refusing to write " + path + ": the network holds NaN or inf");
  }
  if (!c.state.optimizer.m.allFinite() || !c.state.optimizer.v.allFinite()) {
    throw InputError("refusing to write " + path + ": the optimizer state holds NaN or inf");
  }
  io::TensorFile f;
  for (size_t l = 0; l < net.num_layers(); ++l) {
    const auto W = net.weight(l);
    const auto b = net.bias(l);
    f.tensors["layers." + std::to_string(l) + ".weight"] =
        flat_tensor(W.data(), static_cast<size_t>(W.size()), {W.rows(), W.cols()});
    f.tensors["layers." + std::to_string(l) + ".bias"] =
        flat_tensor(b.data(), static_cast<size_t>(b.size()), {b.size()});
    if (net.has_gain()) {
      const auto g = net.gain(l);
      f.tensors["layers." + std::to_string(l) + ".gain"] =
          flat_tensor(g.data(), static_cast<size_t>(g.size()), {g.size()});
    }
  }
  const OptimizerState& o = c.state.optimizer;
  if (o.m.size() == net.params().size()) {
    f.tensors["optimizer.m"] =
        flat_tensor(o.m.data(), static_cast<size_t>(o.m.size()), {o.m.size()});
    if (o.v.size() == o.m.size()) {
      f.tensors["optimizer.v"] =
          flat_tensor(o.v.data(), static_cast<size_t>(o.v.size()), {o.v.size()});
    }
  }
  for (const auto& [k, v] : c.extra) f.metadata[k] = v;
  f.metadata["format"] = kFormat;
  f.metadata["format_version"] = std::to_string(kFormatVersion);
  f.metadata["gift_version"] = version();
  f.metadata["architecture"] = io::arch_to_json(net.arch()).dump();
  NoiseModel noise = c.train.noise;
  if (noise.layers.empty()) noise = NoiseModel::none(net.num_layers());
  f.metadata["noise"] = io::noise_to_json(noise).dump();
  f.metadata["train"] = train_to_json(c.train).dump();
  f.metadata["seed"] = std::to_string(c.train.seed);
  f.metadata["epochs_done"] = std::to_string(c.state.epochs_done);
  f.metadata["optimizer_step"] = std::to_string(o.step);
  f.metadata["dataset"] = c.dataset;
  io::write_safetensors(path, f);
}

Checkpoint load_checkpoint(const std::string& path) {
  return checkpoint_from_file(io::read_safetensors(path), path);
}

Checkpoint parse_checkpoint(const uint8_t* bytes, size_t size, const std::string& name) {
  return checkpoint_from_file(io::parse_safetensors(bytes, size, name), name);
}

}  // namespace gift::io

// Bindings of the model's values: Architecture, LayerNoise, NoiseModel, Imperfections, Network
// (its parameters as numpy views, no copy) and the data sets (data/dataset.h).
//
// Views: Network.params (P), Network.weight(l) (O x I), Network.bias(l) (O), Dataset.images
// (N x pixels) and Dataset.labels (N) are writable numpy arrays into the object's own buffer,
// with the object as their base (it lives as long as any view). No gift call resizes a buffer
// in place: what produces a new network (train, finetune) gives a new object or copies values
// into the same-size buffer.
#include <cmath>
#include <cstdint>
#include <memory>
#include <sstream>

#include "common.h"
#include "gift/core/error.h"
#include "gift/core/parse.h"
#include "gift/core/stats.h"
#include "gift/data/dataset.h"
#include "gift/io/model_json.h"
#include "gift/onn/imperfections.h"
#include "gift/onn/network.h"
#include "gift/onn/noise.h"

namespace gift::py {
namespace {

// A per-layer std as the CLI's text: a str as given, a number or a sequence as numbers
// (Python's repr, which reads back as the same double).
std::string std_text(const pyb::handle& v) {
  if (pyb::isinstance<pyb::str>(v)) return v.cast<std::string>();
  if (pyb::isinstance<pyb::sequence>(v) || pyb::isinstance<pyb::array>(v)) {
    std::string s;
    for (const pyb::handle& x : pyb::iterable(v.cast<pyb::object>())) {
      s += (s.empty() ? "" : ",") + pyb::repr(pyb::float_(x.cast<double>())).cast<std::string>();
    }
    return s;
  }
  return pyb::repr(pyb::float_(v.cast<double>())).cast<std::string>();
}

// NoiseModel(num_layers, weight=..., ...): each site one std or one per layer, checked as the
// CLI's --noise-<site> flags are (and named so in errors).
NoiseModel make_noise(size_t num_layers, const pyb::dict& stds, double output_clip) {
  NoiseModel m = NoiseModel::none(num_layers);
  for (const auto& kv : stds) {
    const NoiseSiteInfo& site = site_info(parse_noise_site(kv.first.cast<std::string>()));
    const std::string option = std::string("--noise-") + site.flag;
    const std::string text = std_text(kv.second);
    if (num_layers == 0) {
      if (parse_number_list(text, option) != std::vector<double>{0}) {
        throw InputError(option + ": a noise with stds needs num_layers >= 1");
      }
      continue;
    }
    const std::vector<double> v = parse_per_layer(text, num_layers, option);
    for (size_t l = 0; l < num_layers; ++l) m.layers[l].*site.member = v[l];
  }
  m.output_clip = output_clip;
  m.validate(num_layers, "noise options");
  return m;
}

void bind_architecture(pyb::module_& m) {
  pyb::class_<Architecture>(m, "Architecture",
                            "Layer widths, activations and weight range (onn/network.h)")
      .def(pyb::init([](const pyb::object& widths, const std::string& activation, double w_max,
                        const std::string& chain) {
             std::string text;
             if (pyb::isinstance<pyb::str>(widths)) {
               text = widths.cast<std::string>();
             } else {
               for (const pyb::handle& w : widths)
                 text += (text.empty() ? "" : "-") + std::to_string(w.cast<int>());
             }
             return Architecture::from_string(text, parse_activation(activation), w_max,
                                              parse_chain(chain));
           }),
           pyb::arg("widths") = kDefaultArchitecture, pyb::arg("activation") = "relu",
           pyb::arg("w_max") = 1.0, pyb::arg("chain") = "physical")
      .def_readwrite("sizes", &Architecture::sizes)
      .def_property(
          "activations",
          [](const Architecture& a) {
            std::vector<std::string> names;
            for (Activation x : a.activations) names.push_back(to_string(x));
            return names;
          },
          [](Architecture& a, const std::vector<std::string>& names) {
            a.activations.clear();
            for (const std::string& n : names) a.activations.push_back(parse_activation(n));
          })
      .def_readwrite("w_max", &Architecture::w_max)
      .def_property(
          "chain", [](const Architecture& a) { return std::string(to_string(a.chain)); },
          [](Architecture& a, const std::string& name) { a.chain = parse_chain(name); },
          "the signal chain: 'physical' (power budget, gains; the default) or 'legacy'")
      .def_property_readonly("num_layers", &Architecture::num_layers)
      .def_property_readonly("inputs", &Architecture::inputs)
      .def_property_readonly("outputs", &Architecture::outputs)
      .def_property_readonly("num_params", &Architecture::num_params)
      .def("validate", &Architecture::validate)
      .def("describe", &Architecture::describe)
      .def("__eq__", [](const Architecture& a, const Architecture& b) { return a == b; })
      .def("__repr__",
           [](const Architecture& a) { return "gift.Architecture('" + a.describe() + "')"; });
}

void bind_noise(pyb::module_& m) {
  auto layer = pyb::class_<LayerNoise>(m, "LayerNoise", "Per-site noise stds of one layer");
  layer.def(pyb::init<>());
  for (const NoiseSiteInfo& site : noise_sites()) layer.def_readwrite(site.name, site.member);
  layer.def("any", &LayerNoise::any).def("__repr__", [](const LayerNoise& l) {
    std::ostringstream os;
    os << "gift.LayerNoise(";
    for (const NoiseSiteInfo& s : noise_sites()) {
      os << (s.site == NoiseSite::kWeight ? "" : ", ") << s.name << "=" << l.*s.member;
    }
    return os.str() + ")";
  });
  pyb::class_<NoiseModel>(m, "NoiseModel",
                          "Per-pass noise stds per layer and site (onn/noise.h); empty = ideal")
      .def(pyb::init([](size_t num_layers, const pyb::kwargs& stds) {
             double clip = 0;
             pyb::dict sites;
             for (const auto& kv : stds) {
               if (kv.first.cast<std::string>() == "output_clip") {
                 clip = kv.second.cast<double>();
               } else {
                 sites[kv.first] = kv.second;
               }
             }
             return make_noise(num_layers, sites, clip);
           }),
           pyb::arg("num_layers") = 0,
           "NoiseModel(num_layers, weight=0, sum_mult=0, sum_add=0, out_add=0, output_clip=0): "
           "each std one number for every layer or one per layer, as --noise-<site>")
      .def_readwrite("layers", &NoiseModel::layers)
      .def_readwrite("output_clip", &NoiseModel::output_clip)
      .def_static("none", &NoiseModel::none)
      .def_static("uniform",
                  [](size_t layers, const std::string& site, double std) {
                    return NoiseModel::uniform(layers, parse_noise_site(site), std);
                  })
      .def("site",
           [](const NoiseModel& n, const std::string& name) {
             const NoiseSite s = parse_noise_site(name);
             std::vector<double> v;
             for (const LayerNoise& l : n.layers) v.push_back(l.at(s));
             return v;
           })
      .def("any", &NoiseModel::any)
      .def("scaled", &NoiseModel::scaled)
      .def("validate", &NoiseModel::validate, pyb::arg("num_layers"),
           pyb::arg("what") = "noise model")
      .def("describe", &NoiseModel::describe)
      .def("to_json", [](const NoiseModel& n) { return to_python(io::noise_to_json(n)); })
      .def_static(
          "from_json",
          [](const pyb::object& j, size_t num_layers) {
            return io::noise_from_json(from_python(j), num_layers, "noise model");
          },
          pyb::arg("json"), pyb::arg("num_layers"))
      .def("__eq__",
           [](const NoiseModel& a, const NoiseModel& b) {
             return io::noise_to_json(a) == io::noise_to_json(b);
           })
      .def("__repr__",
           [](const NoiseModel& n) { return "gift.NoiseModel('" + n.describe() + "')"; });
  m.def("noise_sites", [] {
    std::vector<std::string> names;
    for (const NoiseSiteInfo& s : noise_sites()) names.push_back(s.name);
    return names;
  });
}

void bind_imperfections(pyb::module_& m) {
  pyb::class_<Imperfections>(m, "Imperfections",
                             "Static errors of a device (--gain-std, --weight-bits, "
                             "--row-gain-std, --col-gain-std, --crosstalk, --dac)")
      .def(pyb::init([](double gain_std, int weight_bits, double row_gain_std, double col_gain_std,
                        double crosstalk, const std::string& dac) {
             Imperfections imp;
             imp.gain_std = gain_std;
             imp.weight_bits = weight_bits;
             imp.row_gain_std = row_gain_std;
             imp.col_gain_std = col_gain_std;
             imp.crosstalk = crosstalk;
             imp.dac = parse_dac_scale(dac);
             imp.validate("Imperfections");
             return imp;
           }),
           pyb::arg("gain_std") = 0.0, pyb::arg("weight_bits") = 0, pyb::arg("row_gain_std") = 0.0,
           pyb::arg("col_gain_std") = 0.0, pyb::arg("crosstalk") = 0.0, pyb::arg("dac") = "layer")
      .def_readwrite("gain_std", &Imperfections::gain_std)
      .def_readwrite("weight_bits", &Imperfections::weight_bits)
      .def_readwrite("row_gain_std", &Imperfections::row_gain_std)
      .def_readwrite("col_gain_std", &Imperfections::col_gain_std)
      .def_readwrite("crosstalk", &Imperfections::crosstalk)
      .def_property(
          "dac", [](const Imperfections& imp) { return std::string(to_string(imp.dac)); },
          [](Imperfections& imp, const std::string& dac) { imp.dac = parse_dac_scale(dac); })
      .def("any", &Imperfections::any);
}

void bind_network(pyb::module_& m) {
  bind_imperfections(m);
  using NetPtr = std::shared_ptr<Network>;
  pyb::class_<Network, NetPtr>(m, "Network", "A photonic network; parameters as numpy views")
      .def(pyb::init([](const Architecture& a) {
             a.validate();
             return std::make_shared<Network>(a);
           }),
           pyb::arg("arch"))
      .def_property_readonly("arch", &Network::arch)
      .def_property_readonly("num_layers", &Network::num_layers)
      .def("init", &Network::init, pyb::arg("seed"),
           "He-uniform weights (physical chain: over the whole range, the gain carrying the "
           "scale), zero biases")
      .def("project", &Network::project,
           "clip every weight to [-w_max, w_max] (physical chain: every bias to [-1, 1])")
      .def("all_finite", &Network::all_finite)
      .def("copy", [](const Network& n) { return std::make_shared<Network>(n); })
      .def_property_readonly("params",
                             [](pyb::object self) {
                               Network& n = self.cast<Network&>();
                               return view(n.params().data(), n.params().size(), 0, self);
                             })
      .def(
          "weight",
          [](pyb::object self, size_t l) {
            Network& n = self.cast<Network&>();
            if (l >= n.num_layers()) throw pyb::index_error("layer out of range");
            return view(n.params().data() + n.weight_offset(l), n.arch().sizes[l + 1],
                        n.arch().sizes[l], self);
          },
          pyb::arg("layer"), "W_l, O x I (row-major), a view")
      .def(
          "bias",
          [](pyb::object self, size_t l) {
            Network& n = self.cast<Network&>();
            if (l >= n.num_layers()) throw pyb::index_error("layer out of range");
            return view(n.params().data() + n.bias_offset(l), n.arch().sizes[l + 1], 0, self);
          },
          pyb::arg("layer"), "b_l, O, a view")
      .def(
          "gain",
          [](pyb::object self, size_t l) {
            Network& n = self.cast<Network&>();
            if (l >= n.num_layers()) throw pyb::index_error("layer out of range");
            if (!n.has_gain()) throw pyb::value_error("a legacy-chain network has no gains");
            return view(n.params().data() + n.gain_offset(l), n.arch().sizes[l + 1], 0, self);
          },
          pyb::arg("layer"), "g_l, O, a view (physical chain: the electronic gain per neuron)")
      .def("__eq__",
           [](const Network& a, const Network& b) {
             return a.arch() == b.arch() && a.params() == b.params();
           })
      .def("__repr__",
           [](const Network& n) { return "gift.Network('" + n.arch().describe() + "')"; });
  m.def(
      "apply_imperfections",
      [](const Network& n, const Imperfections& imp, uint64_t seed) {
        imp.validate("--gain-std/--weight-bits");
        return std::make_shared<Network>(apply_imperfections(n, imp, seed));
      },
      pyb::arg("net"), pyb::arg("imperfections"), pyb::arg("seed") = 1,
      "the weights a device with these static errors holds after programming net");
}

// A data set from numpy images and labels, copied and checked (Dataset's invariants but the
// pixel range, which a lab's images need not keep).
std::shared_ptr<data::Dataset> dataset_from_arrays(const pyb::object& images,
                                                   const pyb::object& labels, int num_classes,
                                                   int rows, int cols) {
  auto d = std::make_shared<data::Dataset>();
  d->images = to_data(images, "images");
  d->labels = to_labels(labels, "labels");
  if (static_cast<size_t>(d->images.rows()) != d->labels.size()) {
    throw InputError("Dataset: " + std::to_string(d->images.rows()) + " images but " +
                     std::to_string(d->labels.size()) + " labels");
  }
  if (num_classes < 1) throw InputError("Dataset: num_classes must be >= 1");
  for (size_t i = 0; i < d->labels.size(); ++i) {
    if (d->labels[i] < 0 || d->labels[i] >= num_classes) {
      throw InputError("labels: class index " + std::to_string(d->labels[i]) + " at position " +
                       std::to_string(i) + " is outside [0, " + std::to_string(num_classes) + ")");
    }
  }
  const auto pixels = static_cast<int>(d->images.cols());
  if (rows == 0 && cols == 0) {
    const auto side = static_cast<int>(std::lround(std::sqrt(static_cast<double>(pixels))));
    rows = side * side == pixels ? side : 1;
    cols = side * side == pixels ? side : pixels;
  }
  if (rows < 0 || cols < 0 || static_cast<int64_t>(rows) * cols != pixels) {
    throw InputError("Dataset: rows x cols must be the " + std::to_string(pixels) +
                     " pixels of an image, found " + std::to_string(rows) + " x " +
                     std::to_string(cols));
  }
  d->num_classes = num_classes;
  d->rows = rows;
  d->cols = cols;
  return d;
}

void bind_data(pyb::module_& m) {
  using data::Dataset;
  pyb::class_<Dataset, std::shared_ptr<Dataset>>(m, "Dataset", "Images (N x pixels) and labels")
      .def(pyb::init(&dataset_from_arrays), pyb::arg("images"), pyb::arg("labels"),
           pyb::arg("num_classes") = 10, pyb::arg("rows") = 0, pyb::arg("cols") = 0,
           "a data set copied from images (N x pixels, finite) and labels (N, in "
           "[0, num_classes)); rows x cols = pixels (default: a square, else 1 x pixels)")
      .def_property_readonly("images",
                             [](pyb::object self) {
                               Dataset& d = self.cast<Dataset&>();
                               return view(d.images.data(), d.images.rows(), d.images.cols(), self);
                             })
      .def_property_readonly("labels",
                             [](pyb::object self) {
                               Dataset& d = self.cast<Dataset&>();
                               return pyb::array_t<int>({static_cast<pyb::ssize_t>(d.size())},
                                                        {sizeof(int)}, d.labels.data(), self);
                             })
      .def_readonly("num_classes", &Dataset::num_classes)
      .def_readonly("rows", &Dataset::rows)
      .def_readonly("cols", &Dataset::cols)
      .def("__len__", &Dataset::size)
      .def("subset", [](const Dataset& d, size_t begin, size_t count) {
        return std::make_shared<Dataset>(data::subset(d, begin, count));
      });
  m.def(
      "load_dataset",
      [](const std::string& name, const std::string& split, const std::string& dir, size_t limit) {
        if (split != "train" && split != "test") {
          throw InputError("split must be train or test, found '" + split + "'");
        }
        const data::Split s = split == "train" ? data::Split::kTrain : data::Split::kTest;
        auto d = std::make_shared<Dataset>(
            data::load_dataset(name, dir.empty() ? data::default_data_dir(name) : dir, s));
        if (limit > 0 && limit < d->size()) *d = data::subset(*d, 0, limit);
        return d;
      },
      pyb::arg("name") = "mnist", pyb::arg("split") = "train", pyb::arg("data_dir") = "",
      pyb::arg("limit") = 0,
      "a data set split as --dataset, --data-dir (default data/<name>, relative to the working "
      "directory) and --train-limit/--test-limit load it");
  m.def("dataset_names", &data::dataset_names);
}

void bind_interval(pyb::module_& m) {
  pyb::class_<Interval>(m, "Interval",
                        "An estimate and its 95% interval, and what the interval is over "
                        "('noise draws', 'seeds', 'images' or 'repeats')")
      .def_readonly("low", &Interval::low)
      .def_readonly("high", &Interval::high)
      .def_readonly("mean", &Interval::mean)
      .def_readonly("stddev", &Interval::stddev)
      .def_readonly("n", &Interval::n)
      .def_property_readonly("over",
                             [](const Interval& i) { return std::string(to_string(i.over)); });
}

}  // namespace

void register_core(pyb::module_& m) {
  bind_interval(m);
  bind_architecture(m);
  bind_noise(m);
  bind_network(m);
  bind_data(m);
}

}  // namespace gift::py

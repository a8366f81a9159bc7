// Bindings of the device boundary (insitu/device.h): gift.Device (subclassed in Python; the
// trampoline PyDevice of py_device.h), DeviceInfo, DeviceCounters, and the built-in simulated
// chip gift.SimulatedDevice (insitu/simulated_device.h), which scripts can call the same way.
#include <string>

#include "common.h"
#include "gift/core/error.h"
#include "gift/insitu/simulated_device.h"
#include "py_device.h"

namespace gift::py {
namespace {

std::string shape(const Mat& m) {
  return std::to_string(m.rows()) + " x " + std::to_string(m.cols());
}

// `m` must be rows x cols; `what` names it in the error.
void check_shape(const Mat& m, Eigen::Index rows, Eigen::Index cols, const std::string& what) {
  if (m.rows() != rows || m.cols() != cols) {
    throw InputError("gift.Device.forward: " + what + " must be " + std::to_string(rows) + " x " +
                     std::to_string(cols) + ", found " + shape(m));
  }
}

Architecture arch_of(const pyb::object& a) {
  if (pyb::isinstance<pyb::str>(a)) {
    return Architecture::from_string(a.cast<std::string>(), Activation::kRelu, 1.0);
  }
  return a.cast<Architecture>();
}

// A DeviceOutput as Python sees it: out, or (sums, out) when taps were asked for.
pyb::object output_to_python(DeviceOutput o, bool taps) {
  if (!taps) return from_mat(std::move(o.out));
  pyb::list sums;
  for (Mat& s : o.sums) sums.append(from_mat(std::move(s)));
  return pyb::make_tuple(sums, from_mat(std::move(o.out)));
}

}  // namespace

pyb::function PyDevice::method(const char* name) const {
  pyb::function f = pyb::get_override(static_cast<const Device*>(this), name);
  if (!f) {
    throw InputError(std::string("gift.Device: the subclass must define ") + name +
                     "() (see docs/python.md)");
  }
  return f;
}

DeviceInfo PyDevice::info() const {
  pyb::gil_scoped_acquire gil;
  const pyb::object r = method("info")();
  if (!pyb::isinstance<DeviceInfo>(r)) {
    throw InputError("gift.Device.info: expected a gift.DeviceInfo, found " +
                     std::string(pyb::str(r.get_type().attr("__name__"))));
  }
  DeviceInfo i = r.cast<DeviceInfo>();
  i.arch.validate();
  arch_ = i.arch;
  return i;
}

void PyDevice::program(const Network& net) {
  {
    pyb::gil_scoped_acquire gil;
    method("program")(std::make_shared<Network>(net));
  }
  ++counted_.programmings;
}

DeviceOutput PyDevice::forward(const Mat& x, bool taps) {
  if (!arch_) info();
  const Architecture& a = *arch_;
  DeviceOutput o;
  {
    pyb::gil_scoped_acquire gil;
    const pyb::object r = method("forward")(from_mat(x), taps);
    if (taps) {
      if (!pyb::isinstance<pyb::tuple>(r) || pyb::len(r) != 2) {
        throw InputError("gift.Device.forward: with taps=True, expected (sums, out), found " +
                         std::string(pyb::str(r.get_type().attr("__name__"))));
      }
      const pyb::tuple t = r.cast<pyb::tuple>();
      for (const pyb::handle& s : t[0]) o.sums.push_back(to_mat(s, "gift.Device.forward: sums"));
      o.out = to_mat(t[1], "gift.Device.forward: out");
    } else {
      o.out = to_mat(r, "gift.Device.forward: out");
    }
  }
  check_shape(o.out, x.rows(), a.outputs(), "out");
  if (taps) {
    if (o.sums.size() != a.num_layers()) {
      throw InputError("gift.Device.forward: expected sums of " + std::to_string(a.num_layers()) +
                       " layers, found " + std::to_string(o.sums.size()));
    }
    for (size_t l = 0; l < o.sums.size(); ++l) {
      check_shape(o.sums[l], x.rows(), a.sizes[l + 1], "sums[" + std::to_string(l) + "]");
    }
  }
  ++counted_.forwards;
  counted_.passes += static_cast<uint64_t>(x.rows());
  return o;
}

DeviceCounters PyDevice::counters() const {
  pyb::gil_scoped_acquire gil;
  const pyb::function f = pyb::get_override(static_cast<const Device*>(this), "counters");
  if (!f) return counted_;
  return f().cast<DeviceCounters>();
}

void register_device(pyb::module_& m) {
  pyb::class_<DeviceInfo>(m, "DeviceInfo", "What a chip implements: architecture, taps, name")
      .def(pyb::init([](const pyb::object& arch, bool taps, const std::string& name) {
             return DeviceInfo{arch_of(arch), taps, name};
           }),
           pyb::arg("arch"), pyb::arg("taps") = true, pyb::arg("name") = "python")
      .def_readwrite("arch", &DeviceInfo::arch)
      .def_readwrite("taps", &DeviceInfo::taps)
      .def_readwrite("name", &DeviceInfo::name);
  pyb::class_<DeviceCounters>(m, "DeviceCounters", "In situ cost: passes, forwards, programmings")
      .def(pyb::init([](uint64_t passes, uint64_t forwards, uint64_t programmings) {
             return DeviceCounters{passes, forwards, programmings};
           }),
           pyb::arg("passes") = 0, pyb::arg("forwards") = 0, pyb::arg("programmings") = 0)
      .def_readwrite("passes", &DeviceCounters::passes)
      .def_readwrite("forwards", &DeviceCounters::forwards)
      .def_readwrite("programmings", &DeviceCounters::programmings)
      .def("__repr__", [](const DeviceCounters& c) {
        return "gift.DeviceCounters(passes=" + std::to_string(c.passes) +
               ", forwards=" + std::to_string(c.forwards) +
               ", programmings=" + std::to_string(c.programmings) + ")";
      });

  pyb::class_<Device, PyDevice, std::shared_ptr<Device>>(
      m, "Device",
      "A chip: subclass it in Python and define info(), program(net), forward(x, taps)")
      .def(pyb::init<>())
      .def("info", &Device::info)
      .def("program", [](Device& d, const Network& net) { interruptible([&] { d.program(net); }); })
      .def(
          "forward",
          [](Device& d, const pyb::object& x, bool taps) {
            const Mat xm = to_mat(x, "x", d.info().arch.inputs());
            return output_to_python(interruptible([&] { return d.forward(xm, taps); }), taps);
          },
          pyb::arg("x"), pyb::arg("taps") = false)
      .def("counters", [](const Device& d) {
        // Device's own count for a Python chip (so super().counters() works), else the chip's.
        if (const auto* p = dynamic_cast<const PyDevice*>(&d)) return p->own_counters();
        return d.counters();
      });

  pyb::class_<SimulatedDevice, Device, std::shared_ptr<SimulatedDevice>>(
      m, "SimulatedDevice",
      "The simulated chip of the CLI (--device-noise-*, --gain-std, --weight-bits, "
      "--device-seed, --no-taps)")
      .def(pyb::init([](const Architecture& arch, const NoiseModel& noise,
                        const Imperfections& imperfections, uint64_t seed, bool taps, int threads) {
             SimulatedDeviceOptions o;
             o.noise = noise.layers.empty() ? NoiseModel::none(arch.num_layers()) : noise;
             o.imperfections = imperfections;
             o.seed = seed;
             o.taps = taps;
             o.threads = threads;
             return std::make_shared<SimulatedDevice>(arch, o);
           }),
           pyb::arg("arch"), pyb::arg("noise") = NoiseModel{},
           pyb::arg("imperfections") = Imperfections{}, pyb::arg("seed") = 1,
           pyb::arg("taps") = true, pyb::arg("threads") = 0);
}

}  // namespace gift::py

// The Ctrl-C guard, numpy conversions and JSON conversion shared by the binding files.
#include "common.h"

#include <pthread.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "gift/core/error.h"

namespace gift::py {
namespace {

std::atomic<bool> g_sigint{false};  // SIGINT arrived during the guarded call
bool g_installed = false;           // a guard holds SIGINT (read and written with the GIL)

extern "C" void on_sigint(int) { g_sigint.store(true); }

bool on_main_thread() {
  // Python runs signal handlers only on its main thread; so does this guard.
  const pyb::object threading = pyb::module_::import("threading");
  return threading.attr("current_thread")().is(threading.attr("main_thread")());
}

std::string shape_text(const pyb::array& a) {
  std::string s;
  for (pyb::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? " x " : "") + std::to_string(a.shape(d));
  return a.ndim() == 0 ? "a scalar" : s;
}

}  // namespace

StopGuard::StopGuard() {
  // A Ctrl-C that Python has noted but not yet raised is raised now, before any work.
  if (PyErr_CheckSignals() != 0) throw pyb::error_already_set();
  if (g_installed || !on_main_thread()) return;  // the outer guard (or Python) is in charge
  g_sigint.store(false);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  installed_ = g_installed = ::sigaction(SIGINT, &sa, &old_) == 0;
}

void StopGuard::restore() noexcept {
  if (!installed_) return;
  ::sigaction(SIGINT, &old_, nullptr);
  g_sigint.store(false);
  installed_ = g_installed = false;
}

StopGuard::~StopGuard() { restore(); }

void StopGuard::finish() {
  const bool stopped = g_sigint.load();
  restore();
  if (stopped) throw Interrupted();
}

void StopGuard::check() {
  if (g_sigint.load()) throw Interrupted();
}

Mat to_mat(const pyb::handle& obj, const std::string& what, Eigen::Index cols) {
  const auto a = pyb::array_t<float, pyb::array::c_style | pyb::array::forcecast>::ensure(obj);
  if (!a) throw InputError(what + ": expected a 2-D array of numbers");
  if (a.ndim() != 2) {
    throw InputError(what + ": expected a 2-D array (one sample per row), found " + shape_text(a));
  }
  if (cols >= 0 && a.shape(1) != cols) {
    throw InputError(what + ": expected " + std::to_string(cols) + " columns, found " +
                     shape_text(a));
  }
  Mat m(a.shape(0), a.shape(1));
  if (m.size() > 0) std::memcpy(m.data(), a.data(), sizeof(float) * static_cast<size_t>(m.size()));
  return m;
}

Mat to_data(const pyb::handle& obj, const std::string& what) {
  Mat m = to_mat(obj, what);
  for (Eigen::Index r = 0; r < m.rows(); ++r) {
    for (Eigen::Index c = 0; c < m.cols(); ++c) {
      if (!std::isfinite(m(r, c))) {
        throw InputError(what + ": expected finite numbers, found " + std::to_string(m(r, c)) +
                         " at row " + std::to_string(r) + ", column " + std::to_string(c));
      }
    }
  }
  return m;
}

std::vector<int> to_labels(const pyb::handle& obj, const std::string& what) {
  const pyb::array a = pyb::array::ensure(obj);
  if (!a || a.ndim() != 1) {
    throw InputError(what + ": expected a 1-D array of class indices, found " +
                     (a ? shape_text(a) : std::string("another type")));
  }
  if (a.size() > 0 && a.dtype().kind() != 'i' && a.dtype().kind() != 'u') {
    throw InputError(what + ": expected integer class indices, found dtype " +
                     std::string(pyb::str(a.dtype())));
  }
  const auto ints = pyb::array_t<int64_t, pyb::array::c_style | pyb::array::forcecast>::ensure(a);
  std::vector<int> labels(static_cast<size_t>(ints.size()));
  for (size_t i = 0; i < labels.size(); ++i) {
    const int64_t v = ints.data()[i];
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
      throw InputError(what + ": class index " + std::to_string(v) + " at position " +
                       std::to_string(i) + " is out of range");
    }
    labels[i] = static_cast<int>(v);
  }
  return labels;
}

pyb::array_t<float> from_mat(Mat m) {
  auto* owned = new Mat(std::move(m));
  pyb::capsule free_when_done(owned, [](void* p) { delete static_cast<Mat*>(p); });
  return view(owned->data(), owned->rows(), owned->cols(), free_when_done);
}

pyb::array_t<float> view(float* data, Eigen::Index rows, Eigen::Index cols, pyb::handle owner) {
  const auto f = static_cast<pyb::ssize_t>(sizeof(float));
  if (cols == 0) return pyb::array_t<float>({rows}, {f}, data, owner);
  return pyb::array_t<float>({rows, cols}, {cols * f, f}, data, owner);
}

pyb::object to_python(const nlohmann::json& j) {
  return pyb::module_::import("json").attr("loads")(j.dump());
}

nlohmann::json from_python(const pyb::handle& o) {
  const std::string text = pyb::str(pyb::module_::import("json").attr("dumps")(o));
  return nlohmann::json::parse(text);
}

}  // namespace gift::py

// What the binding files of the Python package share: the Ctrl-C guard of long calls, numpy
// conversions (a batch is B x I float32, one sample per row, as core/matrix.h), JSON to Python
// objects, and each file's registration function (called once by module.cc).
//
// Ctrl-C: while a long call runs with the GIL released on the main thread, SIGINT only sets a
// flag (Python's handler is restored when the call ends); the call checks the flag at its
// stop points (each training batch, each device call, each sweep cell or network, each Python
// callback) and unwinds with Interrupted, which Python sees as KeyboardInterrupt.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <signal.h>

#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "gift/core/matrix.h"

namespace gift::py {

namespace pyb = pybind11;

// A long call stopped by Ctrl-C (or SIGINT from os.kill); becomes KeyboardInterrupt.
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted"; }
};

// Held (with the GIL) around a long call: on the main thread, SIGINT sets a flag instead of
// running Python's handler, until finish() or the destructor restores the previous handler.
// Nested guards (a Python device that calls gift) leave the outer one in charge; a call on
// another thread installs nothing (Python delivers Ctrl-C to its main thread), but its stop
// points see a Ctrl-C that arrives while the main thread is in a guarded call.
class StopGuard {
 public:
  StopGuard();
  ~StopGuard();
  StopGuard(const StopGuard&) = delete;
  StopGuard& operator=(const StopGuard&) = delete;
  // Restores the handler; throws Interrupted if SIGINT arrived during the call.
  void finish();
  // Throws Interrupted if SIGINT arrived during the current guarded call (any thread).
  static void check();

 private:
  void restore() noexcept;
  bool installed_ = false;
  struct sigaction old_ {};
};

// Runs f() with the GIL released under a StopGuard: the pattern of every long call.
template <class F>
auto interruptible(F&& f) {
  StopGuard guard;
  if constexpr (std::is_void_v<decltype(f())>) {
    {
      pyb::gil_scoped_release release;
      f();
    }
    guard.finish();
  } else {
    auto result = [&] {
      pyb::gil_scoped_release release;
      return f();
    }();
    guard.finish();
    return result;
  }
}

// A copy of a 2-D array (any real dtype, cast to float32) as a matrix; `what` names it in the
// InputError for another number of dimensions, or (cols >= 0) another number of columns.
Mat to_mat(const pyb::handle& a, const std::string& what, Eigen::Index cols = -1);
// to_mat for data (images, calibration inputs): also an InputError naming the first NaN or
// infinite value and where it is (IDX files cannot hold one; an array from Python can).
Mat to_data(const pyb::handle& a, const std::string& what);
// A copy of a 1-D integer array as labels; InputError for other shapes or non-integers.
std::vector<int> to_labels(const pyb::handle& a, const std::string& what);
// The matrix as a numpy array that owns it (moved, not copied).
pyb::array_t<float> from_mat(Mat m);
// A writable view of `rows` x `cols` floats at `data` (cols 0: 1-D), kept alive by `owner`.
pyb::array_t<float> view(float* data, Eigen::Index rows, Eigen::Index cols, pyb::handle owner);

// JSON as plain Python objects (dict, list, ...) and back.
pyb::object to_python(const nlohmann::json& j);
nlohmann::json from_python(const pyb::handle& o);

// Calls the Python callable `fn` (None: nothing) with the GIL, after the Ctrl-C check.
template <class... Args>
void call_back(const pyb::object& fn, Args&&... args) {
  StopGuard::check();
  if (fn.is_none()) return;  // a pointer comparison: no GIL needed
  pyb::gil_scoped_acquire gil;
  fn(std::forward<Args>(args)...);
}

void register_errors(pyb::module_& m);
void register_core(pyb::module_& m);        // architecture, noise, imperfections, network, data
void register_io(pyb::module_& m);          // checkpoints
void register_train(pyb::module_& m);       // training and evaluation options, train, evaluate
void register_device(pyb::module_& m);      // gift.Device (Python chips), the simulated device
void register_insitu(pyb::module_& m);      // calibration and fine-tuning
void register_experiment(pyb::module_& m);  // sweeps and reports

}  // namespace gift::py

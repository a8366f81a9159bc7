// The extension module gift._gift (re-exported by the package gift, python/gift/__init__.py),
// and the mapping of gift's errors to Python exceptions (core/error.h):
//   gift::InputError    -> gift.InputError    (a subclass of gift.Error and ValueError)
//   gift::InternalError -> gift.InternalError (a subclass of gift.Error and RuntimeError)
//   gift::Error         -> gift.Error         (a subclass of RuntimeError)
//   Interrupted (Ctrl-C during a call) -> KeyboardInterrupt
// with the message the CLI prints after "gift: error: ". Exceptions raised in Python code that
// gift called (a device, a callback) come back unchanged (pybind11's error_already_set).
#include "common.h"
#include "gift/core/error.h"
#include "gift/core/version.h"

namespace gift::py {

void register_errors(pyb::module_& m) {
  // Created once and kept for the life of the process, as pybind11's own exceptions are.
  static PyObject* error = PyErr_NewException("gift.Error", PyExc_RuntimeError, nullptr);
  const pyb::tuple input_bases = pyb::make_tuple(pyb::handle(error), pyb::handle(PyExc_ValueError));
  static PyObject* input = PyErr_NewException("gift.InputError", input_bases.ptr(), nullptr);
  const pyb::tuple internal_bases =
      pyb::make_tuple(pyb::handle(error), pyb::handle(PyExc_RuntimeError));
  static PyObject* internal =
      PyErr_NewException("gift.InternalError", internal_bases.ptr(), nullptr);
  m.attr("Error") = pyb::handle(error);
  m.attr("InputError") = pyb::handle(input);
  m.attr("InternalError") = pyb::handle(internal);
  pyb::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Interrupted&) {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
    } catch (const InputError& e) {
      PyErr_SetString(input, e.what());
    } catch (const InternalError& e) {
      PyErr_SetString(internal, e.what());
    } catch (const Error& e) {
      PyErr_SetString(error, e.what());
    }
  });
}

}  // namespace gift::py

PYBIND11_MODULE(_gift, m) {
  namespace gp = gift::py;
  m.doc() = "gift: optical neural networks trained in silico, fine-tuned in situ (docs/python.md)";
  m.attr("__version__") = gift::version();
  gp::register_errors(m);
  gp::register_core(m);
  gp::register_io(m);
  gp::register_train(m);
  gp::register_device(m);
  gp::register_insitu(m);
  gp::register_experiment(m);
}

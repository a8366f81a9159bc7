// Errors in three tiers (STYLE.md 7):
//  - InputError: bad input (a file, an option, a shape). The message names the
//    file or option, what was expected and what was found, on one line.
//  - InternalError: a broken invariant inside gift (a bug).
//  - numerical outcomes (NaN loss, divergence) are reported in summaries, never thrown.
// The library never aborts or exits; the CLI catches at main.
#pragma once

#include <stdexcept>
#include <string>

namespace gift {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InputError : public Error {
 public:
  using Error::Error;
};

class InternalError : public Error {
 public:
  using Error::Error;
};

}  // namespace gift

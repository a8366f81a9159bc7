// Helpers shared by the tests that run the gift binary: shell quoting, reading a file
// whole, and a small synthetic IDX data set in the layout the CLI expects.
#pragma once

#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../data/idx_test_util.h"
#include "../test_util.h"
#include "gift/data/idx.h"

namespace gift::test_util {

// Single-quotes s for /bin/sh.
inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Outcome {
  int status = -1;  // exit status, or -1 if the process did not exit normally
  std::string out, err;
};

// Runs the shell command `prefix GIFT_BINARY args` (prefix: e.g. "cd DIR && " or "VAR=x")
// with stdin from /dev/null, stdout and stderr captured through files `out` and `err`.
inline Outcome run_gift(const std::string& prefix, const std::string& args, const std::string& out,
                        const std::string& err) {
  const std::string cmd = prefix + quote(GIFT_BINARY) + " " + args + " >" + quote(out) + " 2>" +
                          quote(err) + " </dev/null";
  const int raw = std::system(cmd.c_str());
  Outcome r;
  r.status = raw != -1 && WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = test::read_text(out);
  r.err = test::read_text(err);
  return r;
}

// Writes DIR/PREFIX-images-idx3-ubyte and DIR/PREFIX-labels-idx1-ubyte: n images of
// side x side pixels, a dim background (0..39 from a fixed LCG seeded by `seed`) and one
// bright pixel at the position of the class (0..9), so a small network learns it quickly.
inline void write_synthetic_split(const std::string& dir, const std::string& prefix, int n,
                                  uint32_t seed, uint32_t side = 4) {
  std::vector<uint8_t> pixels, labels;
  uint32_t state = seed;
  const auto next = [&state] {
    state = state * 1664525u + 1013904223u;
    return state >> 24;
  };
  for (int i = 0; i < n; ++i) {
    const int label = static_cast<int>(next() % 10);
    labels.push_back(static_cast<uint8_t>(label));
    for (uint32_t p = 0; p < side * side; ++p) {
      pixels.push_back(static_cast<uint8_t>(static_cast<int>(p) == label ? 255 : next() % 40));
    }
  }
  const uint32_t un = static_cast<uint32_t>(n);
  test::write_bytes(dir + "/" + prefix + "-images-idx3-ubyte",
                    data::test_util::make_idx(data::kIdxUbyte, {un, side, side}, pixels));
  test::write_bytes(dir + "/" + prefix + "-labels-idx1-ubyte",
                    data::test_util::make_idx(data::kIdxUbyte, {un}, labels));
}

}  // namespace gift::test_util

// Numbers and names as the experiment layer's files print them: keys and file names of levels
// (level_label), table and figure numbers (number_text, fixed_text). Every function is pure.
#pragma once

#include <string>

namespace gift::experiment {

// The shortest "%.{p}g" rendering of x that reads back as x; integers without an exponent
// (65600, not 6.56e+04), and never "-0".
std::string number_text(double x);

// x with `decimals` decimals, and a sign if `sign`; a value that rounds to zero prints as "0.0",
// not "-0.0" or "+0.0".
std::string fixed_text(double x, int decimals, bool sign = false);

// `s` safe in a file name: characters other than [A-Za-z0-9._-] become '_'.
std::string file_safe(const std::string& s);

// `x` as the shortest decimal that reads back as `x`, safe in a file name ("0.1", "3", "1e-05").
std::string level_label(double x);

}  // namespace gift::experiment

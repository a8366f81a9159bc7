// Placeholder until the report module lands: prints where the results are.
#include <cstdio>

#include "common.h"

namespace gift::cli {
void write_report(const std::string& dir, bool) { std::printf("results: %s/results.jsonl\n", dir.c_str()); }
}  // namespace gift::cli

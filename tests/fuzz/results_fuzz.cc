// libFuzzer target: results.jsonl rows and files (see results_body.h).
#include "results_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gift::fuzz::results_one_input(data, size);
  return 0;
}

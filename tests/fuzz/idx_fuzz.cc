// libFuzzer target: IDX files, raw and gzip (see idx_body.h).
#include "idx_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gift::fuzz::idx_one_input(data, size);
  return 0;
}

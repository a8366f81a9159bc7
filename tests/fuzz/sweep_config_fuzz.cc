// libFuzzer target: sweep configs (see sweep_config_body.h).
#include "sweep_config_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gift::fuzz::sweep_config_one_input(data, size);
  return 0;
}

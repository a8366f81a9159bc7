// libFuzzer target: safetensors containers and model checkpoints (see safetensors_body.h).
#include "safetensors_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gift::fuzz::safetensors_one_input(data, size);
  return 0;
}

// libFuzzer target: the external-device protocol decoders and reader (see protocol_body.h).
#include "protocol_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gift::fuzz::protocol_one_input(data, size);
  return 0;
}

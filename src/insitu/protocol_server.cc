// The device side of the protocol (protocol.h's serve_device): a request loop over a Device,
// built only from the message encoders and decoders of protocol.cc.
#include <string>

#include "gift/core/error.h"
#include "gift/insitu/protocol.h"

namespace gift::protocol {

int serve_device(Device& device, int in_fd, int out_fd) {
  Message req;
  for (;;) {
    try {
      if (!read_message(in_fd, req)) return 1;
    } catch (const InputError& e) {
      try {
        write_message(out_fd, MessageType::kError,
                      encode_error(std::string("malformed request: ") + e.what()));
      } catch (const InputError&) {
        // The client is gone as well; report the first problem.
      }
      throw;
    }
    MessageType type = MessageType::kError;
    Bytes reply;
    try {
      switch (req.type) {
        case MessageType::kHello:
          decode_empty(req.payload, req.type);
          reply = encode_info(device.info());
          type = MessageType::kInfo;
          break;
        case MessageType::kProgram: {
          const Vec params = decode_program(req.payload);
          const Architecture arch = device.info().arch;
          if (static_cast<size_t>(params.size()) != arch.num_params()) {
            throw InputError("PROGRAM carries " + std::to_string(params.size()) +
                             " parameters, the chip (" + arch.describe() + ") has " +
                             std::to_string(arch.num_params()));
          }
          Network net(arch);
          net.params() = params;
          device.program(net);
          type = MessageType::kOk;
          break;
        }
        case MessageType::kForward: {
          const ForwardRequest f = decode_forward(req.payload);
          DeviceOutput out = device.forward(f.x, f.taps);
          if (!f.taps) out.sums.clear();
          reply = encode_output(out);
          type = MessageType::kOutput;
          break;
        }
        case MessageType::kBye:
          decode_empty(req.payload, req.type);
          type = MessageType::kOk;
          break;
        default:
          throw InputError("unknown request " + to_string(req.type));
      }
    } catch (const InputError& e) {
      type = MessageType::kError;
      reply = encode_error(e.what());
    } catch (const std::exception& e) {
      type = MessageType::kError;
      reply = encode_error(std::string("internal error: ") + e.what());
    }
    write_message(out_fd, type, reply);
    if (req.type == MessageType::kBye && type == MessageType::kOk) return 0;
  }
}

}  // namespace gift::protocol

// The protocol fuzz target's body. The first byte chooses what the rest is:
//   0 a message header (decode_header)   4 an OUTPUT payload (decode_output)
//   1 an INFO payload (decode_info)      5 an ERROR payload (decode_error)
//   2 a PROGRAM payload (decode_program) 6 an empty payload (decode_empty)
//   3 a FORWARD payload (decode_forward) 7 a byte stream (read_message until its end, each
//                                          message's payload decoded by its type)
// (first byte mod 8). What decodes must encode back to the same bytes (INFO: to an equal
// value).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "gift/core/error.h"
#include "gift/insitu/protocol.h"

namespace gift::fuzz {

inline void decode_payload(protocol::MessageType type, const protocol::Bytes& p) {
  using protocol::MessageType;
  switch (type) {
    case MessageType::kInfo: {
      const DeviceInfo info = protocol::decode_info(p);
      const DeviceInfo back = protocol::decode_info(protocol::encode_info(info));
      require(
          back.name == info.name && back.taps == info.taps && back.arch.sizes == info.arch.sizes &&
              back.arch.activations == info.arch.activations && back.arch.w_max == info.arch.w_max,
          "INFO survives encode -> decode");
      break;
    }
    case MessageType::kProgram:
      require(protocol::encode_program(protocol::decode_program(p)) == p,
              "PROGRAM re-encodes to the same bytes");
      break;
    case MessageType::kForward: {
      const protocol::ForwardRequest r = protocol::decode_forward(p);
      require(protocol::encode_forward(r.x, r.taps) == p, "FORWARD re-encodes to the same bytes");
      break;
    }
    case MessageType::kOutput:
      require(protocol::encode_output(protocol::decode_output(p)) == p,
              "OUTPUT re-encodes to the same bytes");
      break;
    case MessageType::kError: {
      const std::string m = protocol::decode_error(p);
      require(m.size() <= 4096 && m.find('\n') == std::string::npos, "ERROR is one short line");
      break;
    }
    default:
      protocol::decode_empty(p, type);
      break;
  }
}

// Returns whether the chosen decoder accepted the input (a stream: at least one message,
// every one read and decoded).
inline bool protocol_one_input(const uint8_t* data, size_t size) {
  using protocol::MessageType;
  if (size == 0) return false;
  const int which = data[0] % 8;
  const protocol::Bytes rest(data + 1, data + size);
  try {
    switch (which) {
      case 0: {
        const protocol::Header h = protocol::decode_header(rest.data(), rest.size());
        require(h.length <= protocol::kMaxPayload, "header length <= kMaxPayload");
        require(protocol::encode_header(h.type, h.length) == rest, "a header re-encodes");
        break;
      }
      case 1:
        decode_payload(MessageType::kInfo, rest);
        break;
      case 2:
        decode_payload(MessageType::kProgram, rest);
        break;
      case 3:
        decode_payload(MessageType::kForward, rest);
        break;
      case 4:
        decode_payload(MessageType::kOutput, rest);
        break;
      case 5:
        decode_payload(MessageType::kError, rest);
        break;
      case 6:
        decode_payload(MessageType::kOk, rest);
        break;
      default: {
        const MemFile stream(rest.data(), rest.size());
        protocol::Message msg;
        bool all_decoded = true;
        size_t messages = 0;
        while (protocol::read_message(stream.fd(), msg)) {
          require(msg.payload.size() <= protocol::kMaxPayload, "payload <= kMaxPayload");
          ++messages;
          try {
            decode_payload(msg.type, msg.payload);
          } catch (const InputError&) {
            all_decoded = false;
          }
        }
        return messages > 0 && all_decoded;
      }
    }
    return true;
  } catch (const InputError&) {
  }
  return false;
}

}  // namespace gift::fuzz

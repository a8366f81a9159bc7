// The external-device protocol (docs/device-protocol.md): how gift talks to a chip's
// server over a pair of byte streams (the server's stdin and stdout).
//
// Every message, in both directions, is a 16-byte header followed by its payload:
//   bytes 0-3   magic "GIFT"
//   bytes 4-7   message type (uint32, little-endian)
//   bytes 8-15  payload length in bytes (uint64, little-endian), at most kMaxPayload
// All numbers are little-endian; floats are IEEE 754 binary32; matrices are row-major.
//
// The encode_* / decode_* functions are pure (bytes in, values out) and validate every
// count and length against the payload size: a decode_* either returns a value that is
// consistent with its payload or throws InputError naming the message and the problem.
// They never read past the payload and never allocate more than the payload implies.
// read_message / write_message move one whole message over a file descriptor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gift/core/error.h"
#include "gift/core/matrix.h"
#include "gift/insitu/device.h"
#include "gift/onn/network.h"

namespace gift::protocol {

constexpr uint32_t kVersion = 1;                       // the "protocol" field of INFO
constexpr size_t kHeaderSize = 16;                     // magic + type + length
constexpr uint64_t kMaxPayload = uint64_t{1} << 30;    // 1 GiB, enforced on both sides
constexpr uint64_t kMaxInfoBytes = uint64_t{1} << 20;  // INFO's JSON text: 1 MiB
constexpr size_t kMaxNameBytes = 256;                  // INFO's "name" is cut to this

enum class MessageType : uint32_t {
  // Requests (client -> server).
  kHello = 1,    // empty                     -> kInfo
  kProgram = 2,  // uint64 count, count f32   -> kOk
  kForward = 3,  // B, I, taps, pad, B*I f32  -> kOutput
  kBye = 4,      // empty                     -> kOk, then the server exits 0
  // Replies (server -> client).
  kOk = 128,      // empty
  kInfo = 129,    // UTF-8 JSON
  kOutput = 130,  // uint32 M, M x (uint32 rows, uint32 cols, rows*cols f32)
  kError = 255,   // UTF-8 message
};
// "HELLO", "PROGRAM", ..., or "type <n>" for a value the protocol does not define.
std::string to_string(MessageType type);

using Bytes = std::vector<uint8_t>;

struct Header {
  MessageType type = MessageType::kOk;  // may hold a value the protocol does not define
  uint64_t length = 0;                  // payload bytes, <= kMaxPayload
};

struct Message {
  MessageType type = MessageType::kOk;
  Bytes payload;
};

// FORWARD's payload, decoded.
struct ForwardRequest {
  Mat x;              // B x I, one sample per row
  bool taps = false;  // whether every layer's detected sum is wanted
};

// The 16 header bytes of a message with `length` payload bytes. Throws InputError if
// length > kMaxPayload.
Bytes encode_header(MessageType type, uint64_t length);
// Decodes exactly kHeaderSize bytes. Throws InputError on a wrong size, a wrong magic or
// a length above kMaxPayload. The type is not checked (callers decide what they accept).
Header decode_header(const uint8_t* data, size_t size);

// HELLO and BYE requests and the OK reply carry nothing; throws InputError naming
// `type` if `payload` is not empty.
void decode_empty(const Bytes& payload, MessageType type);

// INFO: {"protocol": 1, "name": "...", "taps": true,
//        "architecture": {"sizes": [...], "activations": [...], "w_max": 1.0}}.
// Decoding throws InputError on a payload above kMaxInfoBytes, invalid JSON, nesting deeper
// than io::kMaxJsonDepth (io/json.h), a missing or mistyped field, a protocol other than kVersion,
// or an architecture that does not validate; any value quoted in the message is cut to about 100
// characters. Unknown keys are ignored. The name keeps at most kMaxNameBytes bytes, with
// control characters replaced by spaces (it is shown to users on one line).
Bytes encode_info(const DeviceInfo& info);
DeviceInfo decode_info(const Bytes& payload);

// PROGRAM: uint64 count, then count float32 (a Network's flat parameter buffer, see
// device.h). Decoding requires 8 + 4 * count == payload size.
Bytes encode_program(const Vec& params);
Vec decode_program(const Bytes& payload);

// FORWARD: uint32 B, uint32 I, uint8 taps (0 or 1), 3 zero bytes, then B*I float32.
// Decoding requires I >= 1, taps in {0, 1}, zero padding and 12 + 4*B*I == payload size.
// Encoding throws InputError if the batch does not fit in kMaxPayload.
Bytes encode_forward(const Mat& x, bool taps);
ForwardRequest decode_forward(const Bytes& payload);

// OUTPUT: uint32 M, then M matrices, each uint32 rows, uint32 cols, rows*cols float32.
// The matrices are out.sums (in layer order) followed by out.out, so M = sums.size() + 1.
// Decoding requires M >= 1, cols >= 1 for each matrix and the matrices to fill the
// payload exactly; the result's `out` is the last matrix and `sums` the others. Whether
// M and the shapes fit the request is the client's check, not the decoder's.
Bytes encode_output(const DeviceOutput& out);
DeviceOutput decode_output(const Bytes& payload);

// ERROR: a UTF-8 message. Decoding keeps at most 4096 bytes and replaces control
// characters (newlines included) by spaces, so the message stays one line.
Bytes encode_error(const std::string& message);
std::string decode_error(const Bytes& payload);

// Thrown by write_message and read_message when their deadline passes (a subclass of
// InputError, so callers that do not care see an ordinary one-line error). what() is
// "timed out after N ms (<progress>)"; `progress` alone says how far the message got,
// e.g. "nothing received", "7 of 16 header bytes", "100 of 2000 payload bytes of OUTPUT".
class TimeoutError : public InputError {
 public:
  TimeoutError(int timeout_ms, uint64_t bytes_done, std::string progress);
  uint64_t bytes_done;   // bytes of the message moved before the deadline
  std::string progress;  // how far the message got, for a message
};

// Writes one message (header, then payload) to `fd`, retrying partial writes and EINTR
// and waiting on a non-blocking fd. A reader that has gone away gives EPIPE, never
// SIGPIPE: the signal is blocked on this thread during the write and a pending one is
// consumed. `timeout_ms` < 0 waits indefinitely; otherwise it bounds the whole message.
// Throws TimeoutError when it passes, InputError on any other failure ("the other side
// closed the stream", the system's reason).
void write_message(int fd, MessageType type, const Bytes& payload, int timeout_ms = -1);

// Reads one message from `fd`. Returns false on end of stream before the first byte of
// a message (a clean close); throws InputError on end of stream inside a message, a bad
// header (checked as soon as its bytes arrive, so a stream of garbage fails fast), a
// payload longer than `max_payload` (refused from the header, before any of it is read), or
// a read error; throws TimeoutError when `timeout_ms` (>= 0) passes before the whole
// message, header and payload, has arrived (< 0 waits indefinitely).
bool read_message(int fd, Message& msg, int timeout_ms = -1, uint64_t max_payload = kMaxPayload);

// Runs the server side of the protocol for `device` until BYE or the end of `in_fd`:
// reads requests from in_fd, replies on out_fd. Exceptions from the device, malformed
// payloads and unknown request types are answered with ERROR and serving continues; a
// malformed header (the stream cannot be resynchronised) is answered with ERROR and then
// thrown as InputError, as are read and write failures. Returns 0 after BYE (replied with
// OK), 1 if the client closed the stream without BYE.
int serve_device(Device& device, int in_fd, int out_fd);

}  // namespace gift::protocol

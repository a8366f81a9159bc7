// A device in another process: a lab's server for its chip, started as a child process
// and driven over its stdin/stdout with the protocol of docs/device-protocol.md (its
// stderr is left connected to ours, for the server's own logs). Every method in gift
// works with it unchanged, because it is just another Device.
//
// Guarantees:
//  - info() is what the server announced in its INFO reply to the HELLO sent by the
//    constructor; program() refuses a network of another architecture before sending it.
//  - counters() are counted here, on the client side, exactly as SimulatedDevice counts
//    them (successful calls only): a server cannot misreport its cost.
//  - an ERROR reply becomes InputError("device server: <message>") and the device stays
//    usable; so does an OUTPUT holding NaN or inf (refused with an InputError naming the
//    server and the layer; not counted). A server that exits, closes its pipes, times out or
//    sends a malformed reply gives a one-line InputError naming the command (never a hang,
//    never SIGPIPE), and every later call fails at once.
//  - every exchange (request sent, whole reply received) has a deadline: HELLO
//    handshake_timeout_s, every later request reply_timeout_s; a reply longer than the
//    request can need is refused from its header, before it is read.
//  - the server never outlives gift: it is registered with core/interrupt.h (a stop signal
//    handled by cleanup_after_signal sends it SIGTERM), and it is started with
//    PR_SET_PDEATHSIG = SIGTERM, so it receives SIGTERM when the thread that created this
//    object ends, even if gift is killed with SIGKILL (create devices on a long-lived thread).
//  - the destructor sends BYE, waits up to exit_timeout_s for the server to exit, then kills
//    it (SIGKILL); the child is always reaped, on every path (a failed handshake included).
//    Its descriptors are close-on-exec: no other child inherits them.
// Not thread-safe: one caller at a time (like SimulatedDevice).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "gift/insitu/device.h"
#include "gift/insitu/protocol.h"

namespace gift {

// Every time is in seconds; 0 means no limit. A deadline covers the whole exchange: the
// request written and the whole reply (header and payload) read, however it trickles in.
struct ExternalDeviceOptions {
  // HELLO -> INFO: a server may load a model or open its hardware first.
  double handshake_timeout_s = 30;
  // Every later request -> reply. 120 s is a limit no working server comes near (the reference
  // server answers a 10,000-image FORWARD of the default 784-256-128-64-32-10 network in well
  // under a second; gift's largest requests are one pass over a test set), yet it ends a hang
  // within two minutes. Raise it for a chip slower than about 100 samples per second.
  double reply_timeout_s = 120;
  double exit_timeout_s = 2;  // after BYE, before the server is killed
  // Throws InputError unless every timeout is finite and >= 0.
  void validate() const;
};

class ExternalDevice : public Device {
 public:
  // Starts `argv` (argv[0] is looked up in PATH unless it contains a '/') and performs the
  // handshake. Throws InputError if the command cannot be started, or exits, fails or
  // replies anything but a valid INFO of protocol 1.
  explicit ExternalDevice(std::vector<std::string> argv, ExternalDeviceOptions options = {});
  ~ExternalDevice() override;
  ExternalDevice(const ExternalDevice&) = delete;
  ExternalDevice& operator=(const ExternalDevice&) = delete;

  DeviceInfo info() const override { return info_; }
  void program(const Network& net) override;
  DeviceOutput forward(const Mat& x, bool taps) override;
  DeviceCounters counters() const override { return counters_; }

 private:
  // Sends one request and returns the reply of type `expected`, whose payload may hold at
  // most `reply_bytes`; an ERROR reply throws InputError("device server: ..."), anything
  // else (a timeout, a malformed or oversized reply) marks the connection broken.
  protocol::Message call(protocol::MessageType type, const protocol::Bytes& payload,
                         protocol::MessageType expected, uint64_t reply_bytes, double timeout_s);
  [[noreturn]] void fail(const std::string& what);
  void start();                               // fork, exec, register; throws InputError
  std::string try_reap();                     // "" if still running, else how it ended
  std::string wait_for_exit(double seconds);  // "" if still running, else how it ended
  void kill_and_reap() noexcept;
  void shut_down() noexcept;

  std::vector<std::string> argv_;
  ExternalDeviceOptions opts_;
  std::string label_;    // "device server '<argv[0]>'" (cut to about 100 characters)
  pid_t pid_ = -1;       // -1 once reaped
  int child_slot_ = -1;  // its slot in core/interrupt.h's registry, -1 when none
  int to_server_ = -1, from_server_ = -1;
  bool broken_ = false;
  std::string broken_reason_;
  DeviceInfo info_;
  DeviceCounters counters_;
};

}  // namespace gift

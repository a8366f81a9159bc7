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
//    usable; a server that exits, closes its pipes, times out or sends a malformed reply
//    gives a one-line InputError naming the command (never a hang on a dead server, never
//    SIGPIPE), and every later call fails at once.
//  - the destructor sends BYE, waits up to exit_timeout_s for the server to exit, then kills
//    it; the child is always reaped.
// Not thread-safe: one caller at a time (like SimulatedDevice).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "gift/insitu/device.h"
#include "gift/insitu/protocol.h"

namespace gift {

struct ExternalDeviceOptions {
  double handshake_timeout_s = 30;  // the server must answer HELLO within this (0 = no limit)
  double reply_timeout_s = 0;       // limit for every later reply (0 = none: chips may be slow)
  double exit_timeout_s = 2;        // after BYE, before the server is killed
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
  // Sends one request and returns the reply of type `expected`; an ERROR reply throws
  // InputError("device server: ..."), anything else marks the connection broken.
  protocol::Message call(protocol::MessageType type, const protocol::Bytes& payload,
                         protocol::MessageType expected, double timeout_s);
  [[noreturn]] void fail(const std::string& what);
  std::string wait_for_exit(double seconds);  // "" if still running, else how it ended
  void shut_down() noexcept;

  std::vector<std::string> argv_;
  ExternalDeviceOptions opts_;
  std::string label_;  // "device server '<argv[0]>'"
  pid_t pid_ = -1;     // -1 once reaped
  int to_server_ = -1, from_server_ = -1;
  bool broken_ = false;
  std::string broken_reason_;
  DeviceInfo info_;
  DeviceCounters counters_;
};

}  // namespace gift

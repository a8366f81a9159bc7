// What a process must undo if a signal stops it: temporary files being written and child
// processes (device servers) it started. Writers and spawners register here while the
// thing exists; `cleanup_after_signal` (async-signal-safe) removes the temporary files and
// stops the children. The library installs no handler itself: a host (the CLI) calls
// `install_stop_handlers`, or calls `cleanup_after_signal` from its own handler.
//
// Registration is thread-safe and lock-free; at most kMaxRegistered temporary files and
// kMaxRegistered children are tracked at once (beyond that, registration is a no-op and
// the thing is simply not cleaned up by a signal).
#pragma once

#include <sys/types.h>

namespace gift {

constexpr int kMaxRegistered = 128;

// Registers the temporary file `path` (copied, at most 4095 bytes); returns a slot to pass
// to unregister_temp_file, or -1 if none was free.
int register_temp_file(const char* path) noexcept;
void unregister_temp_file(int slot) noexcept;

// Registers a child process to be sent SIGTERM if a signal stops this process.
int register_child(pid_t pid) noexcept;
void unregister_child(int slot) noexcept;

// Async-signal-safe: marks the process as stopping, then unlinks every registered temporary
// file and sends SIGTERM to every registered child.
void cleanup_after_signal() noexcept;

// True once cleanup_after_signal has begun. A writer that creates its temporary file checks
// this after creating it and removes the file itself if it is set, so a file created by
// another thread while the handler runs is not left behind.
bool stop_requested() noexcept;

// Installs handlers for SIGINT, SIGTERM (and SIGHUP) that call cleanup_after_signal, print
// "gift: stopped by SIGINT" (or SIGTERM, ...) on stderr, and exit with 128 + the signal's
// number (130 for SIGINT, 143 for SIGTERM). Work in progress is never half-written: every
// file gift writes appears only by an atomic rename, and a result row by one write().
void install_stop_handlers() noexcept;

}  // namespace gift

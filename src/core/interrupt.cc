#include "gift/core/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <initializer_list>

namespace gift {
namespace {

constexpr size_t kMaxPath = 4096;

// A slot is free (0), being written or read (1), or holds a value (2).
struct TempSlot {
  std::atomic<int> state{0};
  char path[kMaxPath];
};
struct ChildSlot {
  std::atomic<int> state{0};
  pid_t pid = 0;
};

TempSlot g_temps[kMaxRegistered];
std::atomic<bool> g_stopping{false};
ChildSlot g_children[kMaxRegistered];

template <class Slot, class Fill>
int claim(Slot (&slots)[kMaxRegistered], Fill fill) noexcept {
  for (int i = 0; i < kMaxRegistered; ++i) {
    int expected = 0;
    if (slots[i].state.compare_exchange_strong(expected, 1)) {
      fill(slots[i]);
      slots[i].state.store(2);
      return i;
    }
  }
  return -1;
}

template <class Slot>
void release(Slot (&slots)[kMaxRegistered], int slot) noexcept {
  if (slot >= 0 && slot < kMaxRegistered) slots[slot].state.store(0);
}

void write_stderr(const char* s) noexcept {
  size_t n = std::strlen(s);
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

extern "C" void on_stop_signal(int sig) {
  cleanup_after_signal();
  const char* name = sig == SIGINT    ? "SIGINT"
                     : sig == SIGTERM ? "SIGTERM"
                     : sig == SIGHUP  ? "SIGHUP"
                                      : "a signal";
  write_stderr("\ngift: stopped by ");
  write_stderr(name);
  write_stderr(" (finished work is kept; run the same command again to resume)\n");
  ::_exit(128 + sig);
}

}  // namespace

int register_temp_file(const char* path) noexcept {
  if (path == nullptr || std::strlen(path) >= kMaxPath) return -1;
  return claim(g_temps, [&](TempSlot& s) { std::strcpy(s.path, path); });
}

void unregister_temp_file(int slot) noexcept { release(g_temps, slot); }

int register_child(pid_t pid) noexcept {
  return claim(g_children, [&](ChildSlot& s) { s.pid = pid; });
}

void unregister_child(int slot) noexcept { release(g_children, slot); }

bool stop_requested() noexcept { return g_stopping.load(); }

void cleanup_after_signal() noexcept {
  g_stopping.store(true);
  for (TempSlot& s : g_temps) {
    if (s.state.load() == 2) ::unlink(s.path);
  }
  for (ChildSlot& s : g_children) {
    if (s.state.load() == 2 && s.pid > 0) ::kill(s.pid, SIGTERM);
  }
}

void install_stop_handlers() noexcept {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigfillset(&sa.sa_mask);  // no second signal interrupts the cleanup
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace gift

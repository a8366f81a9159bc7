// Child processes gift starts (the gnuplot of `gift report`, an external device server): the
// PATH lookup execvp does, one way to start a program with pipes to its standard streams, and
// waiting for it. POSIX (Linux) only.
//
// Guarantees of spawn: the child gets gift's environment, every signal handler at its default
// (SIGPIPE and SIGTERM too, even where gift ignores them), an empty signal mask, and no
// descriptor of gift's but its stdin, stdout and stderr; the descriptors handed back are
// close-on-exec, so no later child inherits them. spawn returns only once the program has been
// exec'd: a program that cannot be found or run is an InputError, never a child exiting 127.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace gift {

// The file execvp would run for `name`: `name` itself if it holds a '/', else the first
// executable regular file named `name` in a directory of PATH (PATH unset or empty:
// "/bin:/usr/bin"; an empty entry is the working directory). "" when there is none, with
// *error (if given) set to ENOENT, or EACCES when a file of that name exists but cannot be run.
std::string find_in_path(const std::string& name, int* error = nullptr);

struct SpawnOptions {
  bool pipe_stdin = false;        // a pipe into the child's stdin; else it reads /dev/null
  bool stderr_to_stdout = false;  // the child's stderr into its stdout pipe; else gift's stderr
  // Stop the child when gift stops: it is started with PR_SET_PDEATHSIG = SIGTERM (sent when the
  // thread that spawned it ends, even if gift is killed) and registered with core/interrupt.h
  // (register_child) before any signal can be handled.
  bool stop_with_parent = false;
};

// A started child. The caller owns its descriptors (close them) and must reap `pid`
// (wait_status, or waitpid); with stop_with_parent, it unregisters `interrupt_slot` first.
struct ChildProcess {
  pid_t pid = -1;
  int to_child = -1;        // write end of the child's stdin (pipe_stdin), else -1
  int from_child = -1;      // read end of the child's stdout
  int interrupt_slot = -1;  // register_child's slot (stop_with_parent), else -1
};

// Starts `argv` (argv[0] looked up by find_in_path; a file without "#!" is run by /bin/sh, as
// execvp does) with its stdout into a pipe. Throws InputError("cannot start <what>: <reason>"),
// where reason is strerror's text of the lookup or the exec ("No such file or directory"), or
// names the call that failed ("pipe: ...", "fork: ...").
ChildProcess spawn(const std::vector<std::string>& argv, const SpawnOptions& options,
                   const std::string& what);

// Waits for the child `pid` to end (retrying on EINTR); returns waitpid's status.
int wait_status(pid_t pid) noexcept;

// How a child ended, from waitpid's status: "exited with status 3", "was killed by signal 9
// (Killed)", or "ended".
std::string describe_exit(int status);

// The outcome of run_captured: the exit status (-1 if the program did not exit normally) and
// everything it wrote to stdout and stderr.
struct RunResult {
  int exit_code = -1;
  std::string output;
};

// Runs `argv` to its end with stdin from /dev/null and stdout and stderr captured together.
// Throws InputError("cannot start <what>: ...") as spawn does.
RunResult run_captured(const std::vector<std::string>& argv, const std::string& what);

}  // namespace gift

// Whole-file reads and atomic whole-file writes (STYLE.md 10).
//
// write_file_atomic writes `contents` to `path + ".tmp.<pid>"` in the same directory, fsyncs it,
// and renames it over `path`; readers see either the old file or the new one, never a partial
// one. Missing directories of `path` are created with their parents first. On failure the
// temporary file is removed, `path` is left untouched, and an InputError
// naming the path is thrown. While it exists the temporary file is registered with
// core/interrupt.h, so a stop signal removes it; a temporary of `path` left by a process that
// no longer runs (killed with SIGKILL mid-write) is removed by the next write of `path`. A symbolic
// link at `path` is replaced by a regular file. Two threads of one process must not write the same
// path at the same time (they would share the temp name).
#pragma once

#include <string>

namespace gift::io {

// Replaces the file at `path` with `contents` (bytes, not necessarily text).
// Throws InputError (naming the path and the system's reason) if it cannot.
void write_file_atomic(const std::string& path, const std::string& contents);

// Returns the whole file at `path` as bytes.
// Throws InputError (naming the path and the system's reason) if it cannot be read, or if it
// is not a regular file (a FIFO or a device would block or never end).
std::string read_file(const std::string& path);

// Checks that long work will be able to write `path`, so that it fails before it starts
// rather than when it writes its result: throws InputError naming `path` if it is a
// directory, or if the nearest existing ancestor of its directory is not a writable
// directory. Creates nothing (write_file_atomic creates the missing directories).
void prepare_output(const std::string& path);

// Creates the directory `dir` with its parents if missing (like `mkdir -p`). Throws
// InputError naming the first component that is not a directory or cannot be created.
void make_dirs(const std::string& dir);

}  // namespace gift::io

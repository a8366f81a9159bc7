// Whole-file reads and atomic whole-file writes (STYLE.md 10).
//
// write_file_atomic writes `contents` to `path + ".tmp.<pid>"` in the same directory, fsyncs it,
// and renames it over `path`; readers see either the old file or the new one, never a partial
// one. On failure the temporary file is removed, `path` is left untouched, and an InputError
// naming the path is thrown. A symbolic link at `path` is replaced by a regular file. Two threads
// of one process must not write the same path at the same time (they would share the temp name).
#pragma once

#include <string>

namespace gift::io {

// Replaces the file at `path` with `contents` (bytes, not necessarily text).
// Throws InputError (naming the path and the system's reason) if it cannot.
void write_file_atomic(const std::string& path, const std::string& contents);

// Returns the whole file at `path` as bytes.
// Throws InputError (naming the path and the system's reason) if it cannot be read.
std::string read_file(const std::string& path);

// Throws InputError naming `path` unless its directory exists and is writable, so that
// long work fails before it starts rather than when it writes its result.
void check_writable(const std::string& path);

}  // namespace gift::io

// The results files of the experiment drivers (results.jsonl of a sweep, frontier.jsonl of a
// frontier), internal to the library: one reader of their lines (parse_rows, with the rules
// results.h states for parse_results) and one appender (ResultsFile). A file holds one JSON
// object per line; a run appends whole lines, each with one write(), so a stopped run leaves
// finished rows and at most one partial last line (without its newline), which the reader
// ignores and the next run's ResultsFile drops. Only the holder of the directory's DirLock opens
// (and so repairs) a results file: one writer per study folder.
#pragma once

#include <cstddef>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gift/core/error.h"
#include "gift/io/json.h"
#include "run_dir.h"

namespace gift::experiment::detail {

// The rows of results-file `text`, one per line, parsed by `from_json`, in file order: blank
// lines (only spaces, tabs, carriage returns) skipped; a last line without its newline (cut
// mid-write, anywhere, even into valid JSON) ignored; of rows with the same `key` the first
// kept. A malformed line throws InputError("'<path>' line <n>: ...") on one line.
template <class Row>
std::vector<Row> parse_rows(const std::string& text, const std::string& path,
                            Row (*from_json)(const nlohmann::json&)) {
  std::vector<Row> rows;
  std::set<std::string> keys;
  size_t pos = 0;
  for (size_t line_no = 1;; ++line_no) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // a last line without its newline: cut mid-write
    const std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = "'" + path + "' line " + std::to_string(line_no);
    Row row;
    try {
      row = from_json(io::parse_json(line, where));
    } catch (const InputError& e) {
      const std::string msg = e.what();
      if (msg.rfind(where, 0) == 0) throw;  // parse_json's message names the line already
      throw InputError(where + ": " + msg);
    }
    if (keys.insert(row.key).second) rows.push_back(std::move(row));
  }
  return rows;
}

// What a results file held before this run: its text ("" if it does not exist) and the length
// of its complete lines (what ResultsFile keeps). Throws InputError if it cannot be read.
struct ExistingResults {
  std::string text;
  size_t complete_bytes = 0;
};
ExistingResults read_existing_results(const std::string& path);

// Appends rows to a results file: each row is one write() of a whole line, then fsync.
// Thread-safe: rows from several threads never interleave.
class ResultsFile {
 public:
  // Opens `path` for appending (creating it if missing), first dropping whatever follows its
  // first `keep` bytes (a partial last line; parse_rows ignores it). `held` is the lock of the
  // directory the file is in: whoever opens (and so may cut) a results file holds its folder.
  ResultsFile(const std::string& path, size_t keep, const DirLock& held);
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  // Appends row.dump() and a newline. Throws InputError if the write or the flush fails; after
  // a failed write nothing more is appended.
  void append(const nlohmann::json& row);

 private:
  std::string path_;
  int fd_ = -1;
  bool broken_ = false;
  std::mutex mu_;
};

}  // namespace gift::experiment::detail

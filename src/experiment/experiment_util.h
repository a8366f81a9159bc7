// Pieces shared by the experiment drivers (sweep.cc, frontier.cc); internal to the library, not
// installed: strict readers of config values, the "finetune" block of their configs, and the
// bookkeeping that removes what a failed first run created. Their results files are
// results_file.h's.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gift/core/error.h"
#include "gift/data/dataset.h"
#include "gift/insitu/finetune.h"
#include "gift/io/atomic_file.h"
#include "gift/onn/noise.h"
#include "results_file.h"

namespace gift::experiment::detail {

using nlohmann::json;

// FNV-1a of the bytes of `s` (stable across runs and machines: device seeds, fingerprints).
uint64_t fnv1a(const std::string& s);

// ------------------------------------------------------------------ config values
// Every value is checked for its type and range here, so a mistyped config is an InputError
// naming the key, what was expected and what was found: never a nlohmann exception, a float
// truncated to an integer, or a negative number wrapped to a huge unsigned one.

// `v` as JSON text, cut to 60 characters.
std::string shown(const json& v);
// Throws InputError("<what>: key '<key>' must be <expected>, found <v>").
[[noreturn]] void bad_value(const std::string& what, const std::string& key,
                            const std::string& expected, const json& v);
// A non-negative integer: a JSON integer, or an integral float up to 2^53 (2.0, 1e3).
std::optional<uint64_t> count_of(const json& v);
// `v` as an integer in [lo, hi], else bad_value.
uint64_t integer_value(const json& v, const std::string& key, uint64_t lo, uint64_t hi,
                       const std::string& what);
// j[key] if present (else `fallback`): an integer in [lo, hi].
template <class T>
T get_integer(const json& j, const char* key, T fallback, uint64_t lo, uint64_t hi,
              const std::string& what) {
  static_assert(std::is_integral_v<T>);
  if (!j.contains(key)) return fallback;
  return static_cast<T>(integer_value(j.at(key), key, lo, hi, what));
}

// j[key] if present (else `fallback`): a finite number in [lo, hi] (`expected` says so in words).
double get_number(const json& j, const char* key, double fallback, double lo, double hi,
                  const std::string& expected, const std::string& what);
// j[key] if present (else `fallback`): a string.
std::string get_string(const json& j, const char* key, const std::string& fallback,
                       const std::string& expected, const std::string& what);
// j[key]: a non-empty list (checked element by element by the caller).
const json& get_list(const json& j, const char* key, const std::string& expected,
                     const std::string& what);
// Throws InputError unless `j` is an object whose keys are all in `known`.
void reject_unknown(const json& j, const std::set<std::string>& known, const std::string& what);
// A noise pattern {site: std or one std per layer, "output_clip": c} for `layers` layers.
NoiseModel pattern_from_json(const json& j, size_t layers, const std::string& what);

// A noise model in the JSON form of io::noise_to_json, its number of layers taken from its lists
// (all of one length; none: no layers, an ideal device); the frontier's device and assumed noise.
NoiseModel noise_of_json(const json& j, const std::string& what);

// x * y and x + y, or max() if that overflows.
uint64_t saturating_mul(uint64_t x, uint64_t y);
uint64_t saturating_add(uint64_t x, uint64_t y);

// Throws InputError("<owner>: <name> must be in [lo, hi], found <value>") outside [lo, hi].
void check_range(const std::string& owner, const std::string& name, int64_t value, int64_t lo,
                 int64_t hi);

// ------------------------------------------------------------------ the "finetune" block
// One reader and one writer of the fine-tuning options in sweep and frontier configs: keys
// epochs, retrain_epochs, batch_size, lr, score_repeats, accept_z, holdout, score, calib_inputs,
// calib_repeats, calib_size, checks, fit_data, optimizer, schedule, rescale (these three written
// only when not the default, so older directories still resume), and (with `budgets`)
// budget_gradients and budget_passes. Absent keys keep the values of `o` and `calib_size`;
// unknown keys are refused.
void finetune_from_json(const json& f, FinetuneOptions& o, size_t& calib_size, bool budgets,
                        const std::string& what);
json finetune_to_json(const FinetuneOptions& o, size_t calib_size, bool budgets);
// The limits of experiment.h's kMaxSweep* on those options, calib_inputs in [2, calib_size],
// and a hold-out that leaves images to fit; messages start with "<owner>: finetune.<key>".
void check_finetune(const std::string& owner, const FinetuneOptions& o, size_t calib_size);

// ------------------------------------------------------------------ files

std::string errno_text(int err);

// Whether `path` exists (as anything). Throws InputError if it cannot tell (EACCES, ENOTDIR
// below a file, ...).
bool path_exists(const std::string& path);

// ------------------------------------------------------------------ runs
// What the sweep and the frontier do alike around their cells.

// Throws InputError("cannot use '<dir>' as the <what> directory: it is not a directory") if
// `dir` exists and is not a directory.
void check_run_dir(const std::string& dir, const std::string& what);

// "resuming: <skipped> of <total> cells already finished in <path>".
std::string resume_line(size_t skipped, size_t total, const std::string& path);

// Seconds since `start`, and the expected seconds left after `finished` cells (finished > 0)
// when `remaining` are left, at the pace since `start`.
double seconds_since(std::chrono::steady_clock::time_point start);
double eta_seconds(std::chrono::steady_clock::time_point start, size_t finished, size_t remaining);

// The split of a data set, its first `limit` samples only if 0 < limit < its size.
data::Dataset load_limited(const std::string& dataset, const std::string& data_dir,
                           data::Split split, size_t limit);

// Throws InputError("<what> <calib_size> leaves none of the <test_size> test images ...") unless
// calib_size < test_size: the lab's images are drawn from the test split, and the rest measure
// accuracy. `test_limited` says that test_limit cut the split.
void check_lab_size(const std::string& what, size_t calib_size, size_t test_size, bool test_limited,
                    const std::string& data_dir);

// What this run created for the sweep directory: the directory and any missing parents,
// models/, config.json, results.jsonl. If the run fails while the directory holds no finished
// work (no result row, no model file), remove_unless_work() removes exactly these again, so a
// failed first run leaves nothing behind; nothing that existed before the run is touched.
class CreatedPaths {
 public:
  // Creates `dir` with its parents (io::make_dirs), remembering each level it made.
  void make_dirs(const std::string& dir) {
    std::vector<std::string> missing;
    const auto strip = [](std::string d) {
      while (d.size() > 1 && d.back() == '/') d.pop_back();
      return d;
    };
    for (std::string d = strip(dir); !d.empty() && d != "/" && d != "." && !path_exists(d);) {
      missing.push_back(d);
      const size_t slash = d.find_last_of('/');
      d = slash == std::string::npos ? "" : strip(d.substr(0, slash));
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) paths_.push_back({*it, true});
    io::make_dirs(dir);
  }
  // Remembers `file` if it does not exist yet (call before creating it).
  void will_create(const std::string& file) {
    if (!path_exists(file)) paths_.push_back({file, false});
  }
  // Returns false, removing nothing, if there is work.
  bool remove_unless_work(const std::string& results, const std::string& models) noexcept {
    struct stat st;
    if (::stat(results.c_str(), &st) == 0 && st.st_size > 0) return false;
    if (DIR* d = ::opendir(models.c_str())) {
      bool any = false;
      while (const dirent* e = ::readdir(d)) {
        any = any || (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0);
      }
      ::closedir(d);
      if (any) return false;
    }
    for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) {
      // rmdir only removes an empty directory, so nothing made by others since is lost.
      if (it->second) {
        ::rmdir(it->first.c_str());
      } else {
        ::unlink(it->first.c_str());
      }
    }
    return true;
  }
  // rmdir()s again the directories this run made (those that are empty now).
  void remove_empty_dirs() noexcept {
    for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) {
      if (it->second) ::rmdir(it->first.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, bool>> paths_;  // (path, is a directory), in creation order
};

// A study folder this process writes: check_run_dir, then created with its parents if missing
// (remembered, as CreatedPaths) and locked (DirLock) before anything in it is read, so that its
// config check, the resume and every write happen under one writer. Lets go when destroyed.
class HeldRunDir {
 public:
  HeldRunDir(const std::string& dir, const std::string& what) {
    check_run_dir(dir, what);
    created_.make_dirs(dir);
    try {
      lock_.emplace(dir, what);
    } catch (...) {
      created_.remove_empty_dirs();
      throw;
    }
  }
  CreatedPaths& created() { return created_; }
  const DirLock& lock() const { return *lock_; }
  // After a failure or a refusal: removes what this run created unless the folder holds work
  // (CreatedPaths::remove_unless_work) while still holding it, then lets go and removes the
  // directories it made (the lock file gone, they are empty unless someone else wrote there).
  void abandon(const std::string& results, const std::string& models) noexcept {
    const bool removed = created_.remove_unless_work(results, models);
    lock_.reset();
    if (removed) created_.remove_empty_dirs();
  }

 private:
  CreatedPaths created_;
  std::optional<DirLock> lock_;
};

}  // namespace gift::experiment::detail

// Replays every committed fuzz input (tests/fuzz/corpus/<target>/ and
// tests/fuzz/regressions/<target>/) through the fuzz targets' bodies, so the corpus is a
// regression suite in every build, with or without libFuzzer (scripts/fuzz.sh runs the
// targets themselves).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "idx_body.h"
#include "protocol_body.h"
#include "results_body.h"
#include "safetensors_body.h"
#include "sweep_config_body.h"

namespace gift::fuzz {
namespace {

namespace fs = std::filesystem;

// The files of tests/fuzz/<kind>/<target>/, sorted; none if the folder does not exist.
std::vector<fs::path> inputs(const std::string& kind, const std::string& target) {
  const fs::path dir = fs::path(GIFT_SOURCE_DIR) / "tests" / "fuzz" / kind / target;
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<uint8_t> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_FALSE(in.bad()) << "cannot read " << p;
  return bytes;
}

// Runs `body` on every input of `target`. Files named valid-* must be accepted (body returns
// true), so a format change that leaves the seeds stale is noticed.
void replay(const std::string& target, const std::function<bool(const uint8_t*, size_t)>& body) {
  const std::vector<fs::path> corpus = inputs("corpus", target);
  EXPECT_FALSE(corpus.empty()) << "no seed corpus for " << target;
  std::vector<fs::path> all = corpus;
  for (const fs::path& p : inputs("regressions", target)) all.push_back(p);
  for (const fs::path& p : all) {
    const std::vector<uint8_t> bytes = read_all(p);
    // Anything but InputError escaping the body is a bug the fuzzer would report.
    bool accepted = false;
    EXPECT_NO_THROW(accepted = body(bytes.data(), bytes.size())) << p.string();
    if (p.filename().string().rfind("valid-", 0) == 0) {
      EXPECT_TRUE(accepted) << p.string();
    }
  }
}

// Reproducers of bugs not fixed yet (tests/fuzz/regressions/<target>/open/, see README.md):
// run with --gtest_also_run_disabled_tests to see them fail. Fixing one means moving its file
// up to regressions/<target>/, where the tests above replay it.
void replay_open(const std::string& target,
                 const std::function<bool(const uint8_t*, size_t)>& body) {
  for (const fs::path& p : inputs("regressions", target + "/open")) {
    const std::vector<uint8_t> bytes = read_all(p);
    EXPECT_NO_THROW(body(bytes.data(), bytes.size())) << p.string();
  }
}

TEST(FuzzCorpus, Idx) { replay("idx", idx_one_input); }
TEST(FuzzCorpus, Safetensors) { replay("safetensors", safetensors_one_input); }

// The valid checkpoints of the corpus load as checkpoints, not only as containers.
TEST(FuzzCorpus, CheckpointSeedsLoad) {
  for (const fs::path& p : inputs("corpus", "safetensors")) {
    if (p.filename().string().rfind("valid-checkpoint", 0) != 0) continue;
    const std::vector<uint8_t> bytes = read_all(p);
    EXPECT_NO_THROW(io::parse_checkpoint(bytes.data(), bytes.size(), p.string())) << p.string();
  }
}

TEST(FuzzCorpus, SweepConfig) { replay("sweep_config", sweep_config_one_input); }
TEST(FuzzCorpus, Results) { replay("results", results_one_input); }
TEST(FuzzCorpus, Protocol) { replay("protocol", protocol_one_input); }

TEST(FuzzCorpus, DISABLED_OpenBugs) {
  for (const auto& [target, body] :
       std::vector<std::pair<std::string, std::function<bool(const uint8_t*, size_t)>>>{
           {"idx", idx_one_input},
           {"safetensors", safetensors_one_input},
           {"sweep_config", sweep_config_one_input},
           {"results", results_one_input},
           {"protocol", protocol_one_input}}) {
    SCOPED_TRACE(target);
    replay_open(target, body);
  }
}

// Fixed bugs whose reproducers are too big to commit (200 KB): JSON nested 100000 deep, parsed
// without io::parse_json's depth bound, then dumped or walked recursively: a stack overflow.
std::string nested_arrays(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(FuzzCorpus, ResultsLineNestedDeep) {  // was: report.cc read_results, shown()
  const std::string text = nested_arrays(100000) + "\n";
  results_one_input(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

TEST(FuzzCorpus, InfoNestedDeep) {  // was: protocol.cc decode_info, s.dump()
  const std::string text =
      "\x01{\"protocol\": 1, \"name\": \"x\", \"taps\": true, "
      "\"architecture\": {\"sizes\": [" +
      nested_arrays(100000) + "], \"activations\": [\"linear\"], \"w_max\": 1.0}}";
  protocol_one_input(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

}  // namespace
}  // namespace gift::fuzz

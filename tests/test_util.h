// Helpers every test folder shares: a temporary directory removed on destruction, whole-file
// read and write, and the one way to expect an error: EXPECT_INPUT_ERROR(statement, parts...)
// checks that statement throws gift::InputError whose message is one line holding every part;
// input_error_message(f) returns that message, for tests that compare it whole.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

#include "gift/core/error.h"

namespace gift::test {

// A fresh directory under the system temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gift_test_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    dir_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

// The whole file as bytes or text ("" or empty when it cannot be read).
inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes (replaces) the file; a failure is a test failure.
inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) ADD_FAILURE() << "cannot write " << path;
}
inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

// Runs f and returns the message of the gift::InputError it throws. Nothing thrown, or another
// exception, is a test failure (and gives "").
template <class F>
std::string input_error_message(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected gift::InputError, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected gift::InputError, nothing was thrown";
  return "";
}

// Runs f; expects a gift::InputError whose what() is one line containing every part.
template <class F>
void expect_input_error(F&& f, std::initializer_list<std::string> parts) {
  const std::string msg = input_error_message(f);
  if (msg.empty()) return;  // already a failure
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
  for (const std::string& p : parts) {
    EXPECT_NE(msg.find(p), std::string::npos) << "message lacks \"" << p << "\": " << msg;
  }
}

}  // namespace gift::test

// EXPECT_INPUT_ERROR(statement, "part", ...): statement throws gift::InputError whose one-line
// message contains each part. Failures report the statement.
#define EXPECT_INPUT_ERROR(statement, ...)                                       \
  do {                                                                           \
    SCOPED_TRACE(#statement);                                                    \
    ::gift::test::expect_input_error([&] { (void)(statement); }, {__VA_ARGS__}); \
  } while (0)

// The registry of fine-tuning methods: each method is declared once here (its name, a one-line
// summary, its factory, its place in reports), and everything that needs a method's name reads
// it from this table: make_method, method_names, the CLI's help and checks, the reports' order.
//
// Adding a method: its class and factory in its own src/insitu/<name>_method.cc, the factory's
// declaration in src/insitu/method_base.h, and one entry in kMethods (src/insitu/methods.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace gift {

class FinetuneMethod;  // gift/insitu/finetune.h, which includes this header

struct MethodInfo {
  const char* name;     // what the CLI, configs and result rows call it
  const char* summary;  // one line, for help texts and docs
  int rank;             // position in report tables and figures (the baseline first)
  bool baseline;        // changes nothing: the start, measured like a method
  bool alignment;       // its summary reports the twin/device alignment (twin gradient methods)
  std::unique_ptr<FinetuneMethod> (*make)();
};

// Every method, in the order the CLI lists them.
const std::vector<MethodInfo>& method_registry();

// The entry named `name`, or nullptr.
const MethodInfo* find_method(const std::string& name);

// The entry named `name`; throws InputError ("unknown fine-tuning method ...") on another name.
const MethodInfo& method_info(const std::string& name);

// "gift", "diff", "hil", "retrain" or "none"; throws InputError on another name.
std::unique_ptr<FinetuneMethod> make_method(const std::string& name);

// The names in registry order; with_baseline false leaves out the baseline ("none").
std::vector<std::string> method_names(bool with_baseline = true);

// The names as prose: "gift, diff, hil, retrain or none" (help texts and error messages).
std::string method_list(bool with_baseline = true);

// The report position of `name`; a name not in the registry sorts after every method.
int method_rank(const std::string& name);

}  // namespace gift

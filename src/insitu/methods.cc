#include "gift/insitu/methods.h"

#include "gift/core/error.h"
#include "gift/core/parse.h"
#include "method_base.h"

namespace gift {

const std::vector<MethodInfo>& method_registry() {
  static const std::vector<MethodInfo> kMethods = {
      {"gift", "rescale step, then Adam on twin gradients under the calibrated noise", 1, false,
       true, make_gift_method},
      {"diff", "as gift without the rescale step, along the noise-induced part of the gradient", 2,
       false, true, make_diff_method},
      {"hil", "hardware in the loop: forward on the device, backward through its measured sums", 3,
       false, false, make_hil_method},
      {"retrain", "noise-aware retraining on the training set at the calibrated noise", 4, false,
       false, make_retrain_method},
      {"none", "the baseline: the start, measured like a method", 0, true, false, make_none_method},
  };
  return kMethods;
}

std::string method_list(bool with_baseline) {
  return join_names(method_names(with_baseline), " or ");
}

const MethodInfo* find_method(const std::string& name) {
  for (const MethodInfo& m : method_registry()) {
    if (name == m.name) return &m;
  }
  return nullptr;
}

const MethodInfo& method_info(const std::string& name) {
  if (const MethodInfo* m = find_method(name)) return *m;
  throw InputError("unknown fine-tuning method '" + name + "': expected " + method_list());
}

std::unique_ptr<FinetuneMethod> make_method(const std::string& name) {
  return method_info(name).make();
}

std::vector<std::string> method_names(bool with_baseline) {
  std::vector<std::string> names;
  for (const MethodInfo& m : method_registry()) {
    if (with_baseline || !m.baseline) names.push_back(m.name);
  }
  return names;
}

int method_rank(const std::string& name) {
  const MethodInfo* m = find_method(name);
  return m ? m->rank : static_cast<int>(method_registry().size());
}

}  // namespace gift

// Internal to src/insitu: the factories of the fine-tuning methods, which the registry
// (methods.cc) lists; each is defined in its method's own source file.
#pragma once

#include <memory>

#include "gift/insitu/finetune.h"

namespace gift {

std::unique_ptr<FinetuneMethod> make_gift_method();
std::unique_ptr<FinetuneMethod> make_diff_method();
std::unique_ptr<FinetuneMethod> make_retrain_method();
std::unique_ptr<FinetuneMethod> make_hil_method();
std::unique_ptr<FinetuneMethod> make_none_method();

}  // namespace gift

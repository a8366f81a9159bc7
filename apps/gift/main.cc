#include <cstdio>
#include "gift/core/version.h"
int main() { std::printf("gift %s\n", gift::version()); return 0; }

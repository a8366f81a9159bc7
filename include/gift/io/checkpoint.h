// Model checkpoints in the safetensors layout (docs/checkpoint-format.md), readable
// from Python without gift. Tensors (F32): "layers.{l}.weight" (O x I),
// "layers.{l}.bias" (O); optionally "optimizer.m" and "optimizer.v" (flat, like the
// parameter buffer) for resuming. Metadata (strings): format, format_version,
// gift_version, architecture, noise, train (JSON), epochs_done, optimizer_step,
// dataset, and any caller-supplied extra keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "gift/onn/network.h"
#include "gift/onn/noise.h"
#include "gift/train/trainer.h"

namespace gift::io {

struct Checkpoint {
  Network net;
  TrainOptions train;  // train.noise is the noise the network was trained under
  TrainState state;    // epochs done; optimizer moments when present
  std::string dataset;
  std::map<std::string, std::string> extra;  // more metadata (e.g. a fine-tuning report)
};

// Writes atomically (temporary name, then rename). Throws InputError if the
// network holds a non-finite value or the file cannot be written.
void save_checkpoint(const std::string& path, const Checkpoint& ckpt);

// Reads and validates everything: format and version, architecture, every tensor's
// presence, dtype and shape, finite values, weights within [-w_max, w_max], noise
// and options. Throws InputError with one line naming the file and the problem.
Checkpoint load_checkpoint(const std::string& path);

// load_checkpoint on a whole file held in [bytes, bytes + size); `name` (usually the path)
// labels error messages. Pure: no I/O. Same checks and errors as load_checkpoint.
Checkpoint parse_checkpoint(const uint8_t* bytes, size_t size, const std::string& name);

}  // namespace gift::io

// The Python side of a checkpoint (io/checkpoint.h): the same fields, with the network held by
// a shared pointer, so that numpy views of its parameters stay valid when the checkpoint's
// network is replaced (the old network lives on while a view holds it).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "gift/io/checkpoint.h"

namespace gift::py {

struct PyCheckpoint {
  std::shared_ptr<Network> net = std::make_shared<Network>();
  TrainOptions train;  // train.noise: the noise the network was trained under
  TrainState state;    // epochs done, optimizer moments (for resuming)
  std::string dataset = "mnist";
  std::map<std::string, std::string> extra;

  io::Checkpoint to_io() const { return {*net, train, state, dataset, extra}; }
  static PyCheckpoint from_io(io::Checkpoint c) {
    return {std::make_shared<Network>(std::move(c.net)), std::move(c.train), std::move(c.state),
            std::move(c.dataset), std::move(c.extra)};
  }
};

}  // namespace gift::py

// gift train: noise-aware training of a photonic network, resumable per epoch.
#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "common.h"
#include "gift/core/error.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"
#include "gift/train/evaluate.h"
#include "gift/train/loss.h"
#include "gift/train/trainer.h"

namespace gift::cli {
namespace {

// The flags bind to a TrainOptions, so its defaults are the CLI's (one place for them).
struct TrainFlags {
  DataFlags data;
  NoiseFlags noise;
  std::string arch = kDefaultArchitecture;
  std::string activation = "relu";
  double w_max = 1.0;
  std::string chain = to_string(Chain::kPhysical);
  TrainOptions train;  // noise from `noise`, optimizer kind and schedule from the names below
  std::string optimizer = to_string(TrainOptions{}.optimizer.kind);
  std::string schedule = to_string(TrainOptions{}.schedule);
  int eval_repeats = 5;
  std::string out;
  bool resume = false;
};

// A new network, initialised, with the options of the flags.
io::Checkpoint new_checkpoint(const TrainFlags& f) {
  const Architecture arch = Architecture::from_string(f.arch, parse_activation(f.activation),
                                                      f.w_max, parse_chain(f.chain));
  io::Checkpoint ckpt;
  ckpt.net = Network(arch);
  ckpt.net.init(f.train.seed);
  ckpt.train = f.train;
  ckpt.train.optimizer.kind = parse_optimizer(f.optimizer);
  ckpt.train.schedule = parse_lr_schedule(f.schedule);
  ckpt.train.noise = f.noise.build(arch.num_layers(), "");
  ckpt.train.validate(arch);
  ckpt.dataset = f.data.dataset;
  return ckpt;
}

// The final test accuracies: noiseless, and under the training noise if there is any.
void print_test_accuracy(const io::Checkpoint& ckpt, const data::Dataset& test_set,
                         const TrainFlags& f) {
  EvalOptions clean;
  clean.threads = f.train.threads;
  std::printf("test accuracy, noiseless:        %s\n",
              evaluate(ckpt.net, test_set.images, test_set.labels, clean).describe().c_str());
  if (ckpt.train.noise.any()) {
    EvalOptions noisy = clean;
    noisy.noise = ckpt.train.noise;
    noisy.repeats = f.eval_repeats;
    noisy.seed = f.train.seed;
    std::printf("test accuracy, at training noise: %s\n",
                evaluate(ckpt.net, test_set.images, test_set.labels, noisy).describe().c_str());
  }
}

bool file_exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

void run_train(const TrainFlags& f) {
  io::prepare_output(f.out);
  io::Checkpoint ckpt;
  if (f.resume && file_exists(f.out)) {
    ckpt = io::load_checkpoint(f.out);
    ckpt.train.epochs = f.train.epochs;
    ckpt.train.threads = f.train.threads;
    std::printf("resuming %s at epoch %d of %d (%s, trained noise %s)\n", f.out.c_str(),
                ckpt.state.epochs_done, f.train.epochs, ckpt.net.arch().describe().c_str(),
                ckpt.train.noise.describe().c_str());
  } else {
    ckpt = new_checkpoint(f);
  }
  if (f.eval_repeats < 1) {
    throw InputError("--eval-repeats must be >= 1, found " + std::to_string(f.eval_repeats));
  }
  const data::Dataset train_set = f.data.load(data::Split::kTrain);
  const data::Dataset test_set = f.data.load(data::Split::kTest);
  // Everything checkable is checked before the first epoch, so a bad input never costs a
  // training run or leaves a checkpoint behind (train() checks the training set itself).
  check_labelled_data(ckpt.net.arch(), test_set.images, test_set.labels, "test set");
  std::printf(
      "train %s on %s (%zu train, %zu test images), noise %s, %d epochs, batch %d, %s lr %g, seed "
      "%llu\n",
      ckpt.net.arch().describe().c_str(), f.data.dataset.c_str(), train_set.size(), test_set.size(),
      ckpt.train.noise.describe().c_str(), ckpt.train.epochs, ckpt.train.batch_size,
      to_string(ckpt.train.optimizer.kind), ckpt.train.optimizer.lr,
      static_cast<unsigned long long>(ckpt.train.seed));
  std::unique_ptr<Progress> bar;
  int epoch_shown = ckpt.state.epochs_done;
  TrainCallbacks cb;
  cb.progress = [&](size_t done, size_t total, double loss) {
    if (!bar)
      bar = std::make_unique<Progress>("epoch " + std::to_string(epoch_shown + 1) + "/" +
                                       std::to_string(ckpt.train.epochs));
    char extra[48];
    std::snprintf(extra, sizeof extra, "loss %.4f", loss);
    bar->update(done, total, extra);
  };
  cb.epoch_end = [&](const EpochLog& e, const TrainState& state) {
    if (bar) bar->finish();
    bar.reset();
    epoch_shown = e.epoch;
    ckpt.state = state;
    io::save_checkpoint(f.out, ckpt);
    std::printf("epoch %3d  loss %.4f  train acc %6.2f%%  %.1f s  -> %s\n", e.epoch, e.loss,
                100 * e.accuracy, e.seconds, f.out.c_str());
    std::fflush(stdout);
  };
  if (ckpt.state.epochs_done >= ckpt.train.epochs) {
    std::printf("already trained for %d epochs: nothing to do\n", ckpt.state.epochs_done);
  } else {
    const TrainSummary s =
        train(ckpt.net, train_set.images, train_set.labels, ckpt.train, ckpt.state, cb);
    if (bar) bar->finish();
    std::printf("trained in %.1f s (%.0f samples/s)\n", s.seconds, s.samples_per_second);
    if (s.diverged) throw InputError("training diverged: " + s.message);
    if (!file_exists(f.out)) io::save_checkpoint(f.out, ckpt);
  }
  print_test_accuracy(ckpt, test_set, f);
}

}  // namespace

void add_train(CLI::App& app) {
  auto f = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand("train", "train a photonic network noise-aware (resumable)");
  f->data.add(*cmd);
  cmd->add_option("--arch", f->arch, "layer widths, input to classes, e.g. 784-256-128-64-32-10");
  cmd->add_option("--activation", f->activation,
                  "hidden activation: relu, sigmoid, tanh or linear");
  cmd->add_option("--w-max", f->w_max, "programmable weight range [-w_max, w_max]");
  cmd->add_option("--chain", f->chain,
                  "signal chain: physical (power budget, per-neuron gains; the default) or legacy "
                  "(the model of the first releases)");
  f->noise.add(*cmd, "", "assumed during training");
  cmd->add_option("--epochs", f->train.epochs, "epochs (in total, also when resuming)");
  cmd->add_option("--batch-size", f->train.batch_size, "mini-batch size");
  cmd->add_option("--optimizer", f->optimizer, "adam or sgd");
  cmd->add_option("--lr", f->train.optimizer.lr, "learning rate");
  cmd->add_option("--lr-schedule", f->schedule, "cosine (decay to 0 over all epochs) or constant");
  cmd->add_option("--momentum", f->train.optimizer.momentum, "SGD momentum");
  cmd->add_option("--beta1", f->train.optimizer.beta1, "Adam beta1");
  cmd->add_option("--beta2", f->train.optimizer.beta2, "Adam beta2");
  cmd->add_option("--eps", f->train.optimizer.eps, "Adam epsilon");
  cmd->add_option("--weight-decay", f->train.optimizer.weight_decay, "L2 weight decay");
  cmd->add_option("--seed", f->train.seed, "seed of initialisation, shuffling and noise");
  cmd->add_option("--threads", f->train.threads,
                  "threads (0 = all cores; results do not depend on it)");
  cmd->add_option("--eval-repeats", f->eval_repeats, "noise draws for the final test evaluation");
  cmd->add_option("--out", f->out, "checkpoint to write (after every epoch)")->required();
  cmd->add_flag("--resume", f->resume, "continue from --out if it exists, with its stored options");
  cmd->callback([f] { run_train(*f); });
}

}  // namespace gift::cli

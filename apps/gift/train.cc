// gift train: noise-aware training of a photonic network, resumable per epoch.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "common.h"
#include "gift/core/error.h"
#include "gift/io/atomic_file.h"
#include "gift/io/checkpoint.h"
#include "gift/io/model_json.h"
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
  const CLI::App* cmd = nullptr;  // which flags were given (count), for --resume
  bool given(const std::string& flag) const { return cmd && cmd->count(flag) > 0; }
};

// "784-256-10": the widths of `a`.
std::string widths_of(const Architecture& a) {
  std::string s;
  for (int w : a.sizes) s += (s.empty() ? "" : "-") + std::to_string(w);
  return s;
}

// --resume: the checkpoint's data set, architecture, noise and training options are the run's.
// A flag left out takes the stored value; a flag given with another value is an InputError
// naming the flag and both values. Sets f.data.dataset to the stored data set.
void check_resume_flags(TrainFlags& f, const io::Checkpoint& ck) {
  const std::string where = "--resume: the checkpoint " + f.out;
  if (!ck.dataset.empty()) {
    if (f.given("--dataset") && f.data.dataset != ck.dataset) {
      throw InputError("--dataset " + f.data.dataset + " conflicts with " + where +
                       ", trained on " + ck.dataset + " (leave --dataset out to resume on it)");
    }
    f.data.dataset = ck.dataset;
  }
  const Architecture& a = ck.net.arch();
  std::vector<std::string> arch_flags;
  for (const char* flag : {"--arch", "--activation", "--w-max", "--chain"}) {
    if (f.given(flag)) arch_flags.push_back(flag);
  }
  if (!arch_flags.empty()) {
    const Activation hidden = a.num_layers() > 1 ? a.activations.front() : Activation::kRelu;
    const Architecture want =
        Architecture::from_string(f.given("--arch") ? f.arch : widths_of(a),
                                  f.given("--activation") ? parse_activation(f.activation) : hidden,
                                  f.given("--w-max") ? f.w_max : a.w_max,
                                  f.given("--chain") ? parse_chain(f.chain) : a.chain);
    if (!(want == a) || want.chain != a.chain) {
      std::string names;
      for (const std::string& n : arch_flags) names += (names.empty() ? "" : "/") + n;
      throw InputError(names + " (" + want.describe() + ") conflicts with " + where + " (" +
                       a.describe() + ")");
    }
  }
  std::vector<std::string> noise_flags;
  for (const std::string& n : NoiseFlags::option_names("")) {
    if (f.given(n)) noise_flags.push_back(n);
  }
  if (f.given("--noise-preset")) noise_flags.push_back("--noise-preset");
  if (!noise_flags.empty()) {
    const NoiseModel want = f.noise.build(a.num_layers(), "");
    if (io::noise_to_json(want) != io::noise_to_json(ck.train.noise)) {
      std::string names;
      for (const std::string& n : noise_flags) names += (names.empty() ? "" : "/") + n;
      throw InputError(names + " (noise " + want.describe() + ") conflicts with " + where +
                       ", trained with noise " + ck.train.noise.describe());
    }
  }
  const TrainOptions& t = ck.train;
  const auto same = [&](const char* flag, const std::string& given, const std::string& stored) {
    if (f.given(flag) && given != stored) {
      throw InputError(std::string(flag) + " " + given + " conflicts with " + where +
                       ", trained with " + flag + " " + stored);
    }
  };
  const auto num = [](double x) {  // the shortest of %.15g and %.17g that reads back as x
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", x);
    if (std::strtod(buf, nullptr) != x) std::snprintf(buf, sizeof buf, "%.17g", x);
    return std::string(buf);
  };
  same("--batch-size", std::to_string(f.train.batch_size), std::to_string(t.batch_size));
  same("--optimizer", f.optimizer, to_string(t.optimizer.kind));
  same("--lr-schedule", f.schedule, to_string(t.schedule));
  same("--lr", num(f.train.optimizer.lr), num(t.optimizer.lr));
  same("--momentum", num(f.train.optimizer.momentum), num(t.optimizer.momentum));
  same("--beta1", num(f.train.optimizer.beta1), num(t.optimizer.beta1));
  same("--beta2", num(f.train.optimizer.beta2), num(t.optimizer.beta2));
  same("--eps", num(f.train.optimizer.eps), num(t.optimizer.eps));
  same("--weight-decay", num(f.train.optimizer.weight_decay), num(t.optimizer.weight_decay));
  same("--seed", std::to_string(f.train.seed), std::to_string(t.seed));
}

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
    noisy.seed = ckpt.train.seed;
    std::printf("test accuracy, at training noise: %s\n",
                evaluate(ckpt.net, test_set.images, test_set.labels, noisy).describe().c_str());
  }
}

bool file_exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

void run_train(TrainFlags f) {
  io::prepare_output(f.out);
  io::Checkpoint ckpt;
  if (f.resume && file_exists(f.out)) {
    ckpt = io::load_checkpoint(f.out);
    check_resume_flags(f, ckpt);
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
  if (ckpt.state.epochs_done >= ckpt.train.epochs && !file_exists(f.out)) {
    // --epochs 0 on a new --out: the initialised network, untrained, is the result.
    io::save_checkpoint(f.out, ckpt);
    std::printf("--epochs 0: wrote the initialised (untrained) network to %s\n", f.out.c_str());
  } else if (ckpt.state.epochs_done >= ckpt.train.epochs) {
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
  cmd->add_option("--epochs", f->train.epochs,
                  "epochs (in total, also when resuming; 0 on a new --out writes the initialised, "
                  "untrained network)");
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
  cmd->add_flag("--resume", f->resume,
                "continue from --out if it exists, with its stored data set, architecture, noise "
                "and training options (a flag left out takes the stored value; one that differs "
                "is an error)");
  f->cmd = cmd;
  cmd->callback([f] { run_train(*f); });
}

}  // namespace gift::cli

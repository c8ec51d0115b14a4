# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The paper's ResNet-18 protocol at reduced scale, sized for one GPU.

One command, on a machine with a GPU, compares four arms on the paper's
recipe, shortened to a few epochs with the proportions kept:

* data: the full Fashion-MNIST (60k training images, 10% held out for
  validation, the 10k test images), zero-padded from 28x28 to 32x32; or a
  TFDS image dataset (``--dataset cifar10 --data_dir DIR``, prepared
  beforehand: nothing is downloaded);
* model: the examples' ResNet-18 (``examples.models.create_model('resnet18')``,
  the CBS/LeRaC code's CIFAR ResNet-18);
* SGD, eta0 0.1, momentum 0.9, L2 5e-4, batch 64, no augmentation; step
  decay x0.1 at 35%, 65% and 95% of training (the official code's epochs
  35/65/95 of 100, scaled);
* k = 4% of the training steps (the paper's k/T is 2.5-7%);
* arms: ``conventional``; ``warmup``, a global linear warm-up over k;
  ``lerac``, Eq. 8 (exponential, min_scale 1e-6, one depth per layer);
  ``lerac_official``, as the official code (staircase, x10 per event, initial
  ratios 0.1 per block, one depth per residual block).

Every arm trains ``--seeds`` seeds at once: the train step is vmapped over a
leading seed axis of the parameters, optimizer state and batch-norm
statistics, and an epoch is one jitted ``lax.scan``. A seed fixes the
initial weights and the data order, the same in every arm, so the arms are
paired by seed. Validation and test accuracy are measured after every epoch;
the result of a seed is its test accuracy at its best-validation epoch
(model selection never looks at test). The JSON is rewritten after every
epoch; a killed study resumes at the first arm not finished.

Usage::

  python benchmarks/gpu_study.py                       # the GPU study
  python benchmarks/gpu_study.py --tiny --out /tmp/g.json   # CPU smoke run
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp

from benchmarks import study_io
from examples import config_check
from examples import input_pipeline
from examples import stats
from examples import train
from examples.configs import default as default_config

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
DEFAULT_OUT = os.path.join(RESULTS, "gpu_study.json")

# arm -> (examples.train regime, LeRaC settings that differ from the default)
ARMS = {
    "conventional": ("conventional", {}),
    "warmup": ("warmup", {}),
    "lerac": ("lerac", {"schedule": "exponential", "min_scale": 1e-6,
                        "group": "layer"}),
    "lerac_official": ("lerac/staircase", {
        "initial_ratios": "decay", "decay_factor": 0.1,
        "staircase_factor": 10.0, "group": "block"}),
}
# Step decay points as fractions of training: the official 35/65/95 of 100.
DECAY_FRACTIONS = (0.35, 0.65, 0.95)


def pad_to_32(images: np.ndarray) -> np.ndarray:
  """Pads (N, 28, 28, C) images in [-1, 1] with the background value to 32x32.

  Example:
    >>> pad_to_32(np.zeros((2, 28, 28, 1), np.float32)).shape
    (2, 32, 32, 1)
    >>> float(pad_to_32(np.zeros((1, 28, 28, 1), np.float32))[0, 0, 0, 0])
    -1.0
  """
  if images.shape[1:3] != (28, 28):
    return images
  return np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)),
                constant_values=-1.0)


def load_data(args: argparse.Namespace) -> input_pipeline.Dataset:
  """The study's dataset: 10% of train held out; 28x28 images padded."""
  kwargs = {}
  if args.max_train_examples:
    kwargs["max_train_examples"] = args.max_train_examples
  data = input_pipeline.load(args.dataset, data_dir=args.data_dir or None,
                             validation_fraction=0.1, **kwargs)
  if args.max_eval_examples:
    data.validation = tuple(a[:args.max_eval_examples]
                            for a in data.validation)
    data.test = tuple(a[:args.max_eval_examples] for a in data.test)
  for split in ("train", "validation", "test"):
    x, y = getattr(data, split)
    setattr(data, split, (pad_to_32(x), y))
  return data


def make_config(arm: str, args: argparse.Namespace,
                steps_per_epoch: int) -> Any:
  """The examples' config for one arm (optimizer, schedule, LeRaC)."""
  config = default_config.get_config()
  config.model = "resnet18"
  config.model_kwargs = dict(args.model_kwargs)
  config.batch_size = args.batch_size
  config.num_epochs = args.epochs
  config.optimizer = "sgd"
  config.learning_rate = args.learning_rate
  config.momentum = 0.9
  config.weight_decay = 5e-4
  config.lr_schedule = "step"
  config.step_decay_epochs = tuple(f * args.epochs for f in DECAY_FRACTIONS)
  config.step_decay_factor = 0.1
  total = args.epochs * steps_per_epoch
  # k in epochs, so that examples.train.curriculum_steps gives k_fraction * T.
  config.k_epochs = max(1, round(args.k_fraction * total)) / steps_per_epoch
  for key, value in ARMS[arm][1].items():
    config.lerac[key] = value
  config.regime = ARMS[arm][0]
  config_check.validate(config)
  return config


def stack_seeds(states: list[Any]) -> Any:
  """One pytree with a leading seed axis from one state per seed."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def make_run_epoch(setup: train.Setup):
  """A jitted epoch: (states, x, y, order) -> (states, per-step metrics).

  ``order`` is (steps, seeds, batch) indices into the training arrays, so
  each seed reads its own data order; the step is vmapped over the seeds.
  """
  step = jax.vmap(setup.train_step, in_axes=(0, 0, 0, None))

  def run_epoch(states, x, y, order):
    def body(states, idx):
      states, metrics = step(states, x[idx], y[idx], jnp.float32(0.0))
      return states, {"loss": metrics["loss"], "lr": metrics["lr"],
                      "scales": metrics["scales"]}
    return jax.lax.scan(body, states, order)

  return jax.jit(run_epoch)


def make_evaluate(setup: train.Setup, batch_size: int):
  """Accuracy of every seed on a split: a (seeds,) numpy array."""
  step = jax.jit(jax.vmap(setup.eval_step, in_axes=(0, None, None, None)))

  def evaluate(states, split) -> np.ndarray:
    x, y = split
    correct = []
    for i in range(0, len(x), batch_size):
      xb, yb = x[i:i + batch_size], y[i:i + batch_size]
      n = len(xb)
      if n < batch_size:  # one shape, one compilation
        xb = np.pad(xb, [(0, batch_size - n)] + [(0, 0)] * (xb.ndim - 1))
        yb = np.pad(yb, (0, batch_size - n))
      _, c = step(states, xb, yb, jnp.float32(0.0))
      correct.append(np.asarray(c)[:, :n])
    return np.concatenate(correct, axis=1).mean(axis=1)

  return evaluate


def epoch_order(seeds: list[int], epoch: int, num_examples: int,
                batch_size: int) -> np.ndarray:
  """(steps, seeds, batch) indices: each seed's own shuffle of this epoch.

  Seed s's order comes from ``numpy.random.default_rng([s, epoch])``, so it
  is the same in every arm and does not depend on how many seeds run.
  """
  steps = input_pipeline.steps_per_epoch(num_examples, batch_size)
  orders = [np.random.default_rng([s, epoch]).permutation(num_examples)
            [:steps * batch_size].reshape(steps, batch_size) for s in seeds]
  return np.stack(orders, axis=1).astype(np.int32)


def quick_compiling_init(model) -> Any:
  """``model.init``, jitted; on CPU compiled without LLVM's optimisations.

  The initialisers' random-number and inverse-erf code takes XLA:CPU about
  15 s to optimise for the tiny ResNet-18 (1.9 s unoptimised), more than a
  training epoch's compile, for a function that runs once per seed. On other
  backends the default options are kept.
  """
  options = ({"xla_backend_optimization_level": 0}
             if jax.default_backend() == "cpu" else None)
  return jax.jit(model.init, compiler_options=options)


def run_arm(arm: str, args: argparse.Namespace,
            data: input_pipeline.Dataset, record: dict[str, Any],
            save, compiled_init: dict[str, Any]) -> None:
  """Trains one arm, all seeds at once; ``record`` is updated every epoch.

  ``compiled_init`` carries the first arm's jitted ``model.init`` to the
  others: every arm trains the same model, and on CPU compiling its
  initialisers is most of a small run's set-up time.
  """
  spe = input_pipeline.steps_per_epoch(len(data.train[0]), args.batch_size)
  config = make_config(arm, args, spe)
  setup = train.create_setup(config, config.regime, data)
  if compiled_init.get("model") != setup.model:  # same class and fields
    compiled_init.update(model=setup.model, init_fn=quick_compiling_init(
        setup.model))
  setup.init_fn = compiled_init["init_fn"]
  states = stack_seeds([train.create_train_state(setup, s)
                        for s in args.seed_list])
  run_epoch = make_run_epoch(setup)
  evaluate = make_evaluate(setup, args.eval_batch_size)
  x_train = jnp.asarray(data.train[0])
  y_train = jnp.asarray(data.train[1])
  record.update({
      "regime": config.regime, "lerac": {k: config.lerac[k] for k in
                                         ARMS[arm][1]},
      "num_depths": setup.depths.num_depths,
      "curriculum_steps": train.curriculum_steps(config, spe),
      "total_steps": setup.total_steps, "steps_per_epoch": spe,
      "history": [], "done": False})
  t0 = time.time()
  for epoch in range(args.epochs):
    t_epoch = time.time()
    order = epoch_order(args.seed_list, epoch, len(data.train[0]),
                        args.batch_size)
    states, metrics = run_epoch(states, x_train, y_train, order)
    loss = np.asarray(metrics["loss"])  # (steps, seeds)
    train_s = time.time() - t_epoch
    val = evaluate(states, data.validation)
    test = evaluate(states, data.test)
    record["history"].append({
        "epoch": epoch + 1, "train_loss": loss.mean(axis=0).tolist(),
        "val": val.tolist(), "test": test.tolist(),
        "lr_end": float(np.asarray(metrics["lr"])[-1, 0]),
        "smallest_multiplier_first_step": float(
            np.asarray(metrics["scales"])[0].min()),
        "train_s": train_s, "wall_s": time.time() - t_epoch})
    record["wall_s"] = time.time() - t0
    record["best"] = best_validation(record["history"])
    save()
    print(f"{arm} epoch {epoch + 1}/{args.epochs}: val "
          f"{100 * val.mean():.2f} test {100 * test.mean():.2f} (mean of "
          f"{len(val)} seeds; {time.time() - t_epoch:.1f} s)", flush=True)
  record["done"] = True
  save()


def best_validation(history: list[dict[str, Any]]) -> dict[str, list[Any]]:
  """Per seed: the best-validation epoch, its validation and test accuracy.

  Ties go to the earlier epoch.

  Example:
    >>> h = [{"epoch": 1, "val": [0.5, 0.7], "test": [0.4, 0.6]},
    ...      {"epoch": 2, "val": [0.6, 0.7], "test": [0.5, 0.9]}]
    >>> best_validation(h)
    {'epoch': [2, 1], 'val': [0.6, 0.7], 'test': [0.5, 0.6]}
  """
  val = np.array([h["val"] for h in history])  # (epochs, seeds)
  at = np.argmax(val, axis=0)
  return {"epoch": [history[i]["epoch"] for i in at],
          "val": [history[i]["val"][s] for s, i in enumerate(at)],
          "test": [history[i]["test"][s] for s, i in enumerate(at)]}


def summarise(arms: dict[str, dict[str, Any]]) -> dict[str, Any]:
  """Best-validation test accuracy per arm, and paired tests vs the others.

  The t-tests against ``conventional`` and against ``warmup`` are adjusted
  by Holm together, as one family.
  """
  done = {a: r for a, r in arms.items() if r.get("done")}
  out = {a: {"test_mean": float(np.mean(r["best"]["test"])),
             "test_std": float(np.std(r["best"]["test"], ddof=1))
                         if len(r["best"]["test"]) > 1 else 0.0,
             "best_epoch": r["best"]["epoch"]}
         for a, r in done.items()}
  contrasts = [(a, b) for b in ("conventional", "warmup") if b in done
               for a in done if a.startswith("lerac")]
  tests = [stats.paired_tests(done[a]["best"]["test"],
                              done[b]["best"]["test"]) for a, b in contrasts]
  holm = stats.adjust_pvalues([t["t_pvalue"] for t in tests], "holm")
  for (a, b), t, h in zip(contrasts, tests, holm):
    # Undefined tests (e.g. identical results) are null: strict JSON.
    out[a][f"vs_{b}"] = {k: None if math.isnan(v) else v
                         for k, v in {**t, "t_pvalue_holm": h}.items()}
  return out


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--out", default=DEFAULT_OUT)
  p.add_argument("--tiny", action="store_true",
                 help="CPU smoke run: 128 training images, a width-4 "
                 "ResNet with one block per stage, 2 epochs, 2 seeds")
  p.add_argument("--dataset", default="fashion_mnist",
                 help="fashion_mnist (local IDX files) or a prepared TFDS "
                 "name such as cifar10")
  p.add_argument("--data_dir", default="")
  p.add_argument("--arms", default=",".join(ARMS),
                 type=lambda s: s.split(","))
  p.add_argument("--seeds", type=int, default=4)
  p.add_argument("--epochs", type=int, default=6)
  p.add_argument("--k_fraction", type=float, default=0.04)
  p.add_argument("--batch_size", type=int, default=64)
  p.add_argument("--learning_rate", type=float, default=0.1)
  p.add_argument("--eval_batch_size", type=int, default=1000)
  p.add_argument("--max_train_examples", type=int, default=0,
                 help="0: all (54k after the validation split)")
  p.add_argument("--max_eval_examples", type=int, default=0,
                 help="0: all validation and test images")
  p.add_argument("--width", type=int, default=64,
                 help="ResNet-18 base width (64 is the paper's)")
  p.add_argument("--blocks_per_stage", type=int, default=2,
                 help="basic blocks per stage (2: ResNet-18)")
  args = p.parse_args(argv)
  if args.tiny:  # smaller defaults; an option given explicitly still wins
    p.set_defaults(seeds=2, epochs=2, width=4, blocks_per_stage=1,
                   max_train_examples=128, max_eval_examples=128,
                   batch_size=32, eval_batch_size=128)
    args = p.parse_args(argv)
  unknown = set(args.arms) - set(ARMS)
  if unknown:
    p.error(f"unknown arms {sorted(unknown)}; choose from {list(ARMS)}")
  args.seed_list = list(range(args.seeds))
  args.model_kwargs = {"width": args.width,
                       "stage_sizes": (args.blocks_per_stage,) * 4}
  return args


def main(argv=None) -> dict[str, Any]:
  args = parse_args(argv)
  settings = {k: v for k, v in vars(args).items()
              if k not in ("out", "seed_list", "model_kwargs")}
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  study_io.acquire(args.out)  # a second writer is refused; held to the end
  data = {"meta": {}, "arms": {}}
  if os.path.exists(args.out):
    data = study_io.load_results(args.out, ("meta", "arms"))
    if data["meta"].get("settings") != settings:
      raise SystemExit(f"{args.out} holds a study with other settings "
                       f"({data['meta'].get('settings')}); use another --out.")
  data["meta"].update({
      "settings": settings, "command": " ".join(sys.argv),
      "devices": [str(d) for d in jax.devices()],
      "jax_version": jax.__version__})

  def save():
    data["summary"] = summarise(data["arms"])
    study_io.save_results(args.out, data)  # atomic

  dataset = load_data(args)
  print(f"{dataset.summary()}; devices {data['meta']['devices']}", flush=True)
  compiled_init: dict[str, Any] = {}
  for arm in args.arms:
    if data["arms"].get(arm, {}).get("done"):
      print(f"{arm}: done, kept", flush=True)
      continue
    data["arms"][arm] = {}  # an unfinished arm starts again
    run_arm(arm, args, dataset, data["arms"][arm], save, compiled_init)
  save()
  for arm, s in data["summary"].items():
    diffs = "; ".join(
        f"{b}: {100 * s[b]['mean_diff']:+.2f} (Holm p "
        f"{stats.format_p(s[b]['t_pvalue_holm'])})"
        for b in ("vs_conventional", "vs_warmup") if b in s)
    print(f"{arm}: best-val test {100 * s['test_mean']:.2f} ± "
          f"{100 * s['test_std']:.2f}" + (f"; {diffs}" if diffs else ""))
  return data


if __name__ == "__main__":
  main()

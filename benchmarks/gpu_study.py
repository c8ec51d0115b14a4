# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The paper's ResNet-18 protocol at reduced scale, sized for one GPU lease.

One command, on a machine with a GPU, compares four arms on the paper's
recipe, shortened to a few epochs with the proportions kept:

* data: the full Fashion-MNIST (60k training images, 10% held out for
  validation, the 10k test images), zero-padded from 28x28 to 32x32; or a
  TFDS image dataset (``--dataset cifar10 --data_dir DIR``, prepared
  beforehand: nothing is downloaded);
* model and recipe: the training program's paper config
  (``examples/configs/cifar10_resnet18.py``: the CBS/LeRaC code's CIFAR
  ResNet-18, SGD, eta0 0.1, momentum 0.9, L2 5e-4, batch 64, no
  augmentation), with the step decay x0.1 at 35%, 65% and 95% of training
  (the official code's epochs 35/65/95 of 100, scaled);
* k = 4% of the training steps (the paper's k/T is 2.5-7%);
* arms, run in this priority order (``--arms`` picks some; the order stays):

  1. ``conventional``;
  2. ``warmup``, a global linear warm-up over k;
  3. ``lerac``, Eq. 8 (exponential, min_scale 1e-6, one depth per layer);
  4. ``lerac_official``, the official code's ResNet-18 CIFAR-10 setting: one
     depth per residual block, the stem at 1, the blocks from 1e-1 down x0.1
     per block to 1e-5 (5 orders of magnitude over 10 groups), the head at
     1e-3, every group x10 per update event, capped at 1.

An arm is a config of the training program (:func:`make_config`); training
is ``examples.train.train_seeds``: every seed at once, one jitted step for
all of them. A seed fixes the initial weights and the data order, the same
in every arm, so the arms are paired by seed. Validation and test accuracy
are measured after every epoch; the result of a seed is its test accuracy
at its best-validation epoch (model selection never looks at test).

Budget: ``--budget_s`` is a wall-clock limit from the start of the program.
After the first epoch the program prints the projected total (measured
compile and epoch times) and cuts the plan to the arms, in priority order,
that fit; before every epoch it stops cleanly if the epoch would not fit.
Every finished epoch is in the JSON, which is rewritten after each; an arm
cut short is kept as unfinished (``done: false``), and a later invocation
resumes at the first unfinished arm, starting it again. Paths (``--out``,
``--data_dir``) and the budget are not settings: a resume may change them.

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

from benchmarks import study_io
from examples import config_check
from examples import input_pipeline
from examples import stats
from examples import train
from examples.configs import cifar10_resnet18

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
DEFAULT_OUT = os.path.join(RESULTS, "gpu_study.json")

# arm -> (training-program regime, config.lerac settings), in priority order.
ARMS = {
    "conventional": ("conventional", {}),
    "warmup": ("warmup", {}),
    "lerac": ("lerac", {"schedule": "exponential", "min_scale": 1e-6,
                        "initial_ratios": "geometric", "group": "layer"}),
    "lerac_official": ("lerac/staircase", {
        "initial_ratios": "decay", "decay_factor": 0.1, "min_scale": 1e-5,
        "staircase_factor": 10.0, "group": "block", "head_ratio": 1e-3}),
}
# Step decay points as fractions of training: the official 35/65/95 of 100.
DECAY_FRACTIONS = (0.35, 0.65, 0.95)
EQUIVALENCE_MARGIN = 0.5  # points of test accuracy, as the CPU study
ALPHA = 0.05
# Not settings of the study: where files are, and how long this call may run.
NOT_SETTINGS = ("out", "data_dir", "budget_s", "seed_list", "model_kwargs")


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


def make_config(arm: str, args: argparse.Namespace, steps_per_epoch: int):
  """One arm: the paper's ResNet-18 config, scaled to ``args.epochs``."""
  config = cifar10_resnet18.get_config()
  config.dataset = args.dataset
  config.model_kwargs = dict(args.model_kwargs)
  config.batch_size = args.batch_size
  config.eval_batch_size = args.eval_batch_size
  config.num_epochs = args.epochs
  config.learning_rate = args.learning_rate
  config.step_decay_epochs = tuple(f * args.epochs for f in DECAY_FRACTIONS)
  total = args.epochs * steps_per_epoch
  # k in epochs, so that examples.train.curriculum_steps gives k_fraction * T.
  config.k_epochs = max(1, round(args.k_fraction * total)) / steps_per_epoch
  config.tensorboard = False
  regime, lerac = ARMS[arm]
  config.regime = regime
  config.lerac.update(lerac)
  config_check.validate(config)
  return config


class Budget:
  """The wall-clock limit, and the costs measured on the first epoch."""

  def __init__(self, budget_s: float, start: float):
    self.budget_s, self.start = budget_s, start
    self.arm_setup_s = self.epoch_s = None  # set after the first epoch

  def elapsed(self) -> float:
    return time.time() - self.start

  def fits(self, seconds: float) -> bool:
    """Whether ``seconds`` more stay within the budget (always, without one)."""
    return not self.budget_s or self.elapsed() + seconds <= self.budget_s

  def arm_cost(self, epochs: int) -> float:
    """A whole arm: set-up and compile, then ``epochs`` epochs."""
    return self.arm_setup_s + epochs * self.epoch_s


def cut_to_fit(plan: list[str], args: argparse.Namespace,
               budget: Budget) -> list[str]:
  """After the first epoch of ``plan[0]``: prints the projection, cuts ``plan``.

  Keeps, in priority order, the arms after the running one that fit the
  budget with it, and removes the others from ``plan`` (in place).

  Returns:
    The arms cut.
  """
  running = (args.epochs - 1) * budget.epoch_s
  arm = budget.arm_cost(args.epochs)
  total = budget.elapsed() + running + arm * (len(plan) - 1)
  print(f"projection: {total:.0f} s in all for {plan} (epochs of "
        f"{budget.epoch_s:.1f} s, {budget.arm_setup_s:.1f} s of set-up and "
        f"compile per arm); budget {budget.budget_s:g} s", flush=True)
  if not budget.budget_s:
    return []
  room = budget.budget_s - budget.elapsed() - running
  keep = 1 + max(0, min(len(plan) - 1, math.floor(room / arm)))
  cut = plan[keep:]
  del plan[keep:]
  if cut:
    print(f"--budget_s {budget.budget_s:g}: cut {cut}; runs {plan}",
          flush=True)
  return cut


def run_arm(arm: str, args: argparse.Namespace, data: input_pipeline.Dataset,
            record: dict[str, Any], save, budget: Budget, plan: list[str],
            init_fns: dict[Any, Any]) -> bool:
  """Trains one arm, all seeds at once; ``record`` is updated every epoch.

  The first epoch of the invocation measures the costs and cuts ``plan``
  (:func:`cut_to_fit`); every later epoch first checks that it fits.

  Returns:
    Whether the arm finished (False: the budget stopped it).
  """
  t0 = time.time()
  spe = input_pipeline.steps_per_epoch(len(data.train[0]), args.batch_size)
  config = make_config(arm, args, spe)
  setup = train.create_setup(config, config.regime, data)
  # Every arm trains the same model: one compiled model.init for all.
  if setup.model not in init_fns:
    init_fns[setup.model] = quick_compiling_init(setup.model)
  setup.init_fn = init_fns[setup.model]
  record.update({
      "regime": config.regime,
      "lerac": {k: config.lerac[k] for k in ARMS[arm][1]},
      "num_depths": setup.depths.num_depths,
      "curriculum_steps": train.curriculum_steps(config, spe),
      "total_steps": setup.total_steps, "steps_per_epoch": spe,
      "history": [], "done": False})
  epochs = train.train_seeds(setup, args.seed_list, args.seed_mode)
  for epoch in range(1, args.epochs + 1):
    if budget.epoch_s is not None and not budget.fits(budget.epoch_s):
      print(f"{arm}: stopped before epoch {epoch} by --budget_s "
            f"{budget.budget_s:g} ({budget.elapsed():.0f} s elapsed); "
            f"{epoch - 1} epochs kept", flush=True)
      epochs.close()
      return False
    h = next(epochs)
    record["history"].append(h)
    record["wall_s"] = time.time() - t0
    record["best"] = best_validation(record["history"])
    save()
    print(f"{arm} epoch {epoch}/{args.epochs}: val {100 * np.mean(h['val']):.2f}"
          f" test {100 * np.mean(h['test']):.2f} (mean of {len(h['val'])} "
          f"seeds; {h['wall_s']:.1f} s"
          + (f", after {h['compile_s']:.1f} s of compile" if "compile_s" in h
             else "") + ")", flush=True)
    if budget.epoch_s is None:
      budget.epoch_s = h["wall_s"]
      budget.arm_setup_s = time.time() - t0 - h["wall_s"]
      cut_to_fit(plan, args, budget)
  record["done"] = True
  save()
  return True


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


def decide(result: dict[str, Any]) -> str:
  """The CPU study's rule: t-test, then TOST, both Holm-adjusted."""
  if result["t_p_holm"] is not None and result["t_p_holm"] < ALPHA:
    return "better" if result["mean_diff"] > 0 else "worse"
  if result["tost_p_holm"] is not None and result["tost_p_holm"] < ALPHA:
    return f"equivalent within ±{EQUIVALENCE_MARGIN:g} points"
  return "inconclusive"


def summarise(arms: dict[str, dict[str, Any]]) -> dict[str, Any]:
  """Best-validation test accuracy per arm, and paired contrasts.

  Each LeRaC arm against ``conventional`` and against ``warmup``, in points:
  the mean difference with its 95% t interval, the paired t-test and the
  TOST equivalence test (margin ±``EQUIVALENCE_MARGIN``), each
  Holm-adjusted over the family of these contrasts, the Wilcoxon p and the
  decision. Only finished arms count. Undefined values are null (strict
  JSON).
  """
  done = {a: r for a, r in arms.items() if r.get("done")}
  out = {a: {"test_mean": float(np.mean(r["best"]["test"])),
             "test_std": float(np.std(r["best"]["test"], ddof=1))
                         if len(r["best"]["test"]) > 1 else 0.0,
             "best_epoch": r["best"]["epoch"]}
         for a, r in done.items()}
  contrasts = [(a, b) for b in ("conventional", "warmup") if b in done
               for a in done if a.startswith("lerac")]
  tests = [stats.paired_contrast(100 * np.array(done[a]["best"]["test"]),
                                 100 * np.array(done[b]["best"]["test"]),
                                 EQUIVALENCE_MARGIN) for a, b in contrasts]
  for key in ("t_p", "tost_p"):
    for t, p in zip(tests, stats.adjust_pvalues([t[key] for t in tests],
                                                "holm")):
      t[f"{key}_holm"] = p
  for (a, b), t in zip(contrasts, tests):
    t = {k: None if isinstance(v, float) and math.isnan(v) else v
         for k, v in t.items()}
    t["decision"] = decide(t)
    out[a][f"vs_{b}"] = t
  return out


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
  return {k: v for k, v in vars(args).items() if k not in NOT_SETTINGS}


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--out", default=DEFAULT_OUT)
  p.add_argument("--budget_s", type=float, default=540.0,
                 help="wall-clock limit in seconds from the program's start "
                 "(0: none). The default leaves a 10-minute GPU run a minute "
                 "for Python, JAX start-up and the last write")
  p.add_argument("--tiny", action="store_true",
                 help="CPU smoke run: 128 training images, a width-4 "
                 "ResNet with one block per stage, 2 epochs, 2 seeds")
  p.add_argument("--dataset", default="fashion_mnist",
                 help="fashion_mnist (local IDX files) or a prepared TFDS "
                 "name such as cifar10")
  p.add_argument("--data_dir", default="")
  p.add_argument("--arms", default=",".join(ARMS),
                 type=lambda s: s.split(","),
                 help="a subset of the arms; they run in priority order "
                 f"({', '.join(ARMS)})")
  p.add_argument("--seeds", type=int, default=8)
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
  p.add_argument("--seed_mode", default="unroll", choices=train.SEED_MODES,
                 help="how the seeds share a step: unroll (one ordinary "
                 "step per seed in one program) or vmap (grouped "
                 "convolutions); see examples.train.make_seed_step")
  args = p.parse_args(argv)
  if args.tiny:  # smaller defaults; an option given explicitly still wins
    p.set_defaults(seeds=2, epochs=2, width=4, blocks_per_stage=1,
                   max_train_examples=128, max_eval_examples=128,
                   batch_size=32, eval_batch_size=128)
    args = p.parse_args(argv)
  unknown = set(args.arms) - set(ARMS)
  if unknown:
    p.error(f"unknown arms {sorted(unknown)}; choose from {list(ARMS)}")
  args.arms = [a for a in ARMS if a in args.arms]  # priority order
  if args.budget_s < 0:
    p.error(f"--budget_s {args.budget_s:g}: give seconds > 0, or 0 for none")
  args.seed_list = list(range(args.seeds))
  args.model_kwargs = {"width": args.width,
                       "stage_sizes": (args.blocks_per_stage,) * 4}
  return args


def main(argv=None) -> dict[str, Any]:
  budget_start = time.time()
  args = parse_args(argv)
  budget = Budget(args.budget_s, budget_start)
  settings = settings_of(args)
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  study_io.acquire(args.out)  # a second writer is refused; held to the end
  data = {"meta": {}, "arms": {}}
  if os.path.exists(args.out):
    data = study_io.load_results(args.out, ("meta", "arms"))
    stored = {k: v for k, v in data["meta"].get("settings", {}).items()
              if k not in NOT_SETTINGS}
    if stored != settings:
      changed = sorted(k for k in set(stored) | set(settings)
                       if stored.get(k) != settings.get(k))
      raise SystemExit(f"{args.out} holds a study with other settings "
                       f"(changed: {changed}; stored {stored}); use another "
                       "--out.")
  data["meta"].update({
      "settings": settings, "command": " ".join(sys.argv),
      "devices": [str(d) for d in jax.devices()],
      "jax_version": jax.__version__,
      # None: XLA's default, TF32 for float32 convolutions on recent GPUs.
      "default_matmul_precision": jax.config.jax_default_matmul_precision})

  def save():
    data["summary"] = summarise(data["arms"])
    study_io.save_results(args.out, data)  # atomic

  dataset = load_data(args)
  print(f"{dataset.summary()}; devices {data['meta']['devices']}", flush=True)
  todo = []
  for arm in args.arms:
    if data["arms"].get(arm, {}).get("done"):
      print(f"{arm}: done, kept", flush=True)
    else:
      todo.append(arm)
  plan = list(todo)  # arms still to run, in priority order
  cut: list[str] = []
  init_fns: dict[Any, Any] = {}
  while plan:
    arm = plan[0]
    if budget.epoch_s is not None and not budget.fits(
        budget.arm_cost(args.epochs)):
      cut += plan
      print(f"--budget_s {args.budget_s:g}: no time for {plan} (projected "
            f"{budget.arm_cost(args.epochs):.0f} s per arm, "
            f"{budget.elapsed():.0f} s elapsed)", flush=True)
      break
    data["arms"][arm] = {}  # an unfinished arm starts again
    before = list(plan)
    finished = run_arm(arm, args, dataset, data["arms"][arm], save, budget,
                       plan, init_fns)
    cut += [a for a in before if a not in plan]
    if not finished:
      cut += plan[1:]
      break
    plan.pop(0)
  data["meta"]["cut"] = cut
  save()
  for arm, s in data["summary"].items():
    diffs = "; ".join(
        f"{b[3:]}: {s[b]['mean_diff']:+.2f} [{_f(s[b]['ci_low'])}, "
        f"{_f(s[b]['ci_high'])}] (Holm p {_p(s[b]['t_p_holm'])}, TOST Holm "
        f"p {_p(s[b]['tost_p_holm'])}: {s[b]['decision']})"
        for b in ("vs_conventional", "vs_warmup") if b in s)
    print(f"{arm}: best-val test {100 * s['test_mean']:.2f} ± "
          f"{100 * s['test_std']:.2f}" + (f"; {diffs}" if diffs else ""))
  print(f"wall time {budget.elapsed():.0f} s", flush=True)
  return data


def _f(v) -> str:
  return "n/a" if v is None else f"{v:+.2f}"


def _p(v) -> str:
  return "n/a" if v is None else stats.format_p(v)


if __name__ == "__main__":
  main()

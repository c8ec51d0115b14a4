# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""When does a per-depth schedule help? A preregistered CPU study.

The preregistration is ``benchmarks/when_study.md``: the design, the arms,
the contrasts, the tests and the decision rule, committed before any full
run. This program is its protocol: every arm is a config of the training
program (``examples/configs/finetune_fashion_mnist.py`` plus the cell's and
the arm's overrides), run by ``examples.train``; the program keeps only the
plan, the analysis and the report.

Resumable: the JSON (``--out``) is rewritten after every run, finished runs
are skipped, and a resume with other protocol settings is refused. Paths
(``--out``, ``--data_dir``, ``--checkpoint_dir``) are not settings. Each run
records the commit it ran at and whether the tree was dirty.

Usage::

  python benchmarks/when_study.py --pilot      # cost per run, projected total
  python benchmarks/when_study.py              # the study (resumes)
  python benchmarks/when_study.py --budget_s 3600   # at most an hour now
  python benchmarks/when_study.py --report     # tables, figure, README block
  python benchmarks/when_study.py --tiny --out /tmp/w.json   # smoke plan
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time
from typing import Any

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from benchmarks import study_io
from examples import stats
from examples import train
from examples.configs import finetune_fashion_mnist

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(HERE, "results", "when_study.json")
PREREGISTRATION = os.path.join(HERE, "when_study.md")
README = os.path.join(HERE, "README.md")
README_BEGIN = "<!-- when-study:begin -->"
README_END = "<!-- when-study:end -->"
# Changes here never make a run's tree "dirty": they are the study's output.
OUTPUT_PATHS = ("benchmarks/results", "benchmarks/README.md")

ALPHA = 0.05
MARGIN = 0.2  # TOST equivalence margin, points of test accuracy
OFF_SCALE = 2.0  # figure: a mean difference beyond it is drawn at the edge
POWER = 0.8  # for the minimum detectable difference

# Arm -> (regime, overrides of config.lerac, other config overrides).
EQ8 = dict(schedule="exponential", initial_ratios="geometric",
           min_scale=1e-6)
ARMS = {
    "conventional": ("conventional", {}, {}),
    "warmup": ("warmup", {}, {}),
    "lerac_eq8": ("lerac", EQ8, {}),
    # The official code: x10 per event, capped; blocks from 0.1 of eta0 down
    # a decade each to 1e-5; the head at its clf_lr, 1e-3 (ResNet-18 on
    # CIFAR-10).
    "lerac_official": ("lerac/staircase", dict(
        schedule="staircase", initial_ratios="decay", decay_factor=0.1,
        min_scale=1e-5, staircase_factor=10.0, head_ratio=1e-3), {}),
    "lerac_reverse": ("lerac_reverse", EQ8, {}),
    "cbs": ("cbs", {}, {}),
    "layer_decay": ("layer_decay", {}, {}),
    "unfreeze": ("unfreeze", {}, {}),
}
SCRATCH_ARMS = ("conventional", "warmup", "lerac_eq8", "lerac_official",
                "lerac_reverse")
FINETUNE_ARMS = SCRATCH_ARMS + ("layer_decay", "unfreeze")
K_ARMS = ("conventional", "warmup", "lerac_eq8")
CBS_ARMS = ("conventional", "warmup", "lerac_eq8", "cbs")

# The learning-rate grid every arm is tuned on, per optimizer.
GRIDS = {"sgd": (0.01, 0.03, 0.1), "adam": (3e-4, 1e-3, 3e-3)}

PRIMARY = (("lerac_eq8", "warmup"),)
SECONDARY = (("lerac_eq8", "conventional"), ("warmup", "conventional"),
             ("lerac_eq8", "lerac_official"), ("lerac_eq8", "lerac_reverse"),
             ("lerac_eq8", "cbs"), ("lerac_eq8", "layer_decay"),
             ("lerac_eq8", "unfreeze"))


@dataclasses.dataclass(frozen=True)
class Cell:
  """One cell of the design: a setting every arm of it is trained in."""
  name: str
  init: str  # scratch | pretrained
  depth: int  # LeRaC depths of the model
  optimizer: str
  k_fraction: float  # k / T
  arms: tuple[str, ...]
  model: str = "residual_mlp"


def design(tiny: bool = False) -> list[Cell]:
  """The preregistered cells (``tiny``: two small cells for tests)."""
  if tiny:
    arms = ("warmup", "lerac_eq8")
    return [Cell("scratch-d4-sgd", "scratch", 4, "sgd", 0.05, arms),
            Cell("finetune-d4-sgd", "pretrained", 4, "sgd", 0.05, arms)]
  cells = []
  for init, arms in (("scratch", SCRATCH_ARMS), ("pretrained", FINETUNE_ARMS)):
    for depth in (4, 8, 16):
      for opt in ("sgd", "adam"):
        prefix = "scratch" if init == "scratch" else "finetune"
        cells.append(Cell(f"{prefix}-d{depth}-{opt}", init, depth, opt, 0.05,
                          arms))
  for k in (0.025, 0.1):
    cells.append(Cell(f"scratch-d8-sgd-k{100 * k:g}%", "scratch", 8, "sgd",
                      k, K_ARMS))
  cells.append(Cell("cnn-scratch-sgd", "scratch", 4, "sgd", 0.05, CBS_ARMS,
                    model="small_cnn"))
  return cells


def make_config(cell: Cell, arm: str, learning_rate: float,
                args: argparse.Namespace):
  """The training program's config of one arm in one cell."""
  c = finetune_fashion_mnist.get_config()
  c.finetune.init = cell.init
  c.optimizer = cell.optimizer
  c.weight_decay = 5e-4 if cell.optimizer == "sgd" else 0.0
  c.learning_rate = learning_rate
  if cell.init == "scratch":  # the same task with 1000 labels per class
    c.finetune.labels_per_class = 1000
    c.batch_size = 64
    c.num_epochs = 12
  c.k_epochs = cell.k_fraction * c.num_epochs
  if cell.model == "small_cnn":
    c.model = "small_cnn"
    c.model_kwargs = type(c.model_kwargs)(dict(features=(16, 32), hidden=64))
    c.lerac.group = "layer"
    c.cbs.update(sigma=1.0, decay=0.9, every_epochs=1)
  else:
    c.model_kwargs.num_depths = cell.depth
  regime, lerac_overrides, overrides = ARMS[arm]
  c.regime = regime
  c.lerac.update(lerac_overrides)
  c.update(overrides)
  c.log_every = 10**9  # per-epoch records only
  if args.tiny:  # digits, three classes a side, two epochs
    c.dataset = "digits"
    c.model_kwargs.width = 16
    c.finetune.classes = (1, 3, 5)
    c.finetune.labels_per_class = 40 if cell.init == "scratch" else 10
    c.finetune.pretrain.update(classes=(0, 2, 4), examples_per_class=60,
                               num_epochs=1)
    c.batch_size = 8
    c.num_epochs = 2
    c.k_epochs = 0.5
  c.data_dir = args.data_dir
  c.finetune.checkpoint_dir = args.checkpoint_dir
  return c


# ---------------------------------------------------------------------------
# The plan and its settings.
# ---------------------------------------------------------------------------


def grid(cell: Cell, args: argparse.Namespace) -> tuple[float, ...]:
  return GRIDS[cell.optimizer][:2] if args.tiny else GRIDS[cell.optimizer]


def tune_key(cell: str, arm: str, lr: float, seed: int) -> str:
  return f"tune|{cell}|{arm}|lr={lr:g}|seed={seed}"


def study_key(cell: str, arm: str, seed: int) -> str:
  return f"study|{cell}|{arm}|seed={seed}"


def tuning_plan(args) -> list[dict[str, Any]]:
  """Phase 1: every arm of every cell, every grid rate, the tuning seeds."""
  return [dict(phase="tune", cell=cell.name, arm=arm, lr=lr, seed=seed)
          for cell in args.cells for arm in cell.arms
          for lr in grid(cell, args) for seed in args.tuning_seeds]


def study_plan(args) -> list[dict[str, Any]]:
  """Phase 2, seed-major: every arm of every cell for seed 0, then 1, ..."""
  return [dict(phase="study", cell=cell.name, arm=arm, seed=seed)
          for seed in args.seeds for cell in args.cells for arm in cell.arms]


def run_key(run: dict[str, Any]) -> str:
  if run["phase"] == "tune":
    return tune_key(run["cell"], run["arm"], run["lr"], run["seed"])
  return study_key(run["cell"], run["arm"], run["seed"])


def without_paths(config_json: dict[str, Any]) -> dict[str, Any]:
  """A config as settings: the fields that name places removed."""
  out = copy.deepcopy(config_json)
  stack = [out]
  while stack:
    node = stack.pop()
    for key in list(node):
      if key in train.PATH_FIELDS:
        del node[key]
      elif isinstance(node[key], dict):
        stack.append(node[key])
  return out


def study_settings(args) -> dict[str, Any]:
  """The protocol a resumed study must share with its JSON."""
  configs = {}
  for cell in args.cells:
    for arm in cell.arms:
      c = json.loads(make_config(cell, arm, 0.0, args).to_json())
      c.pop("learning_rate")  # tuned on the grid
      configs[f"{cell.name}|{arm}"] = without_paths(c)
  settings = {"tiny": args.tiny,
              "cells": [dataclasses.asdict(c) for c in args.cells],
              "grids": {c.name: list(grid(c, args)) for c in args.cells},
              "seeds": list(args.seeds),
              "tuning_seeds": list(args.tuning_seeds),
              "margin": MARGIN, "alpha": ALPHA, "configs": configs}
  return json.loads(json.dumps(settings))  # as stored: tuples are lists


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
  """Nested dicts as ``{'a.b': leaf}``; lists are leaves."""
  if not isinstance(tree, dict):
    return {prefix: tree}
  out = {}
  for key, value in tree.items():
    out.update(flatten(value, f"{prefix}{key}."
                       if isinstance(value, dict) else f"{prefix}{key}"))
  return out


def protocol_changes(stored: dict[str, Any],
                     current: dict[str, Any]) -> list[str]:
  """The settings whose value differs, as dotted names.

  A field only in ``current`` (added to the code after the study started,
  with the old behaviour as its default) is not a change.

  Example:
    >>> protocol_changes({'a': 1, 'c': {'d': 2}}, {'a': 1, 'b': 3,
    ...                                            'c': {'d': 4}})
    ['c.d']
  """
  old, new = flatten(stored), flatten(current)
  return [k for k in old if k not in new or old[k] != new[k]]


def git(*cmd: str) -> str:
  return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True,
                        text=True, check=False).stdout.strip()


def provenance() -> dict[str, Any]:
  """The commit this process runs and whether the code differs from it."""
  changes = git("status", "--porcelain", "--", ".",
                *(f":(exclude){p}" for p in OUTPUT_PATHS))
  return {"commit": git("rev-parse", "HEAD") or None,
          "dirty": bool(changes)}


def preregistration() -> dict[str, Any]:
  """The preregistration's last commit and content hash."""
  rel = os.path.relpath(PREREGISTRATION, ROOT)
  text = open(PREREGISTRATION, "rb").read() if os.path.exists(
      PREREGISTRATION) else b""
  return {"path": rel,
          "commit": git("log", "-1", "--format=%H", "--", rel) or None,
          "sha256": hashlib.sha256(text).hexdigest(),
          "uncommitted": bool(git("status", "--porcelain", "--", rel))}


# ---------------------------------------------------------------------------
# Running.
# ---------------------------------------------------------------------------


class Runner:
  """Builds datasets and setups once per process, and trains runs."""

  def __init__(self, args):
    self.args = args
    self.cells = {c.name: c for c in args.cells}
    self.datasets = {}  # by labels per class: scratch and fine-tune tasks
    self.setups = {}  # the current (cell, arm, rate)'s, compiled once
    self.init_fns = {}  # by cell: one model, so one compiled model.init
    self.pretrained = {}  # depth -> the pre-training's record

  def dataset(self, config):
    key = config.finetune.labels_per_class
    if key not in self.datasets:
      self.datasets[key] = train.load_dataset(config)
    return self.datasets[key]

  def setup(self, cell: str, arm: str, lr: float):
    """The setup of an arm at a rate, built (and compiled) once."""
    key = (cell, arm, lr)
    if key not in self.setups:
      # The plans run each setup's seeds together, so the previous setup is
      # done with. Its compiled steps go: XLA:CPU keeps every executable's
      # memory mapped, and after about 400 setups a process ran out of
      # memory maps (LLVM "Cannot allocate memory").
      self.setups.clear()
      jax.clear_caches()
      gc.collect()
      config = make_config(self.cells[cell], arm, lr, self.args)
      setup = train.create_setup(config, config.regime, self.dataset(config))
      # The arms of a cell share the model, so its jitted init (and the
      # initial weights of a seed).
      setup.init_fn = self.init_fns.setdefault(cell, setup.init_fn)
      self.setups[key] = setup
      if config.finetune.init == "pretrained":
        with open(os.path.join(train.pretrained_folder(config),
                               "pretrain.json")) as f:
          self.pretrained[str(self.cells[cell].depth)] = json.load(f)[
              "record"]
    return self.setups[key]

  def train(self, run: dict[str, Any], lr: float) -> dict[str, Any]:
    """One run: the training program's train_and_evaluate, summarised."""
    t0 = time.time()
    setup = self.setup(run["cell"], run["arm"], lr)
    result = train.train_and_evaluate(setup.config, setup=setup,
                                      seed=run["seed"], progress=False)
    return {
        **run, "lr": lr, "best_epoch": result["best"]["epoch"],
        "best_val_accuracy": result["best"]["val"],
        "test_accuracy": result["best"]["test"],
        "final_test_accuracy": result["final"]["test"],
        "val_curve": [h["val_accuracy"] for h in result["history"]],
        "steps": result["steps"], "num_depths": result["num_depths"],
        "wall_time": result["wall_time"],
        "total_time": time.time() - t0,  # with setup and compile
    }


def chosen_rates(data: dict[str, Any], args) -> dict[tuple[str, str], float]:
  """The rate of each (cell, arm): best mean validation over tuning seeds.

  Only arms whose tuning is complete; ties go to the smaller rate.
  """
  out = {}
  for cell in args.cells:
    for arm in cell.arms:
      means = []
      for lr in grid(cell, args):
        keys = [tune_key(cell.name, arm, lr, s) for s in args.tuning_seeds]
        if not all(k in data["runs"] for k in keys):
          break
        means.append((np.mean([data["runs"][k]["best_val_accuracy"]
                               for k in keys]), lr))
      else:
        best = max(m for m, _ in means)
        out[cell.name, arm] = min(lr for m, lr in means if m == best)
  return out


def check_engine(args) -> None:
  """Refuses now, not hours in, when an arm's library function is missing."""
  parts = {ARMS[arm][0] for cell in args.cells for arm in cell.arms}
  for part in sorted(parts & set(train.LAYERWISE_ENGINE)):
    try:
      train.layerwise_transform(part)
    except NotImplementedError as e:
      raise SystemExit(f"The plan has {part!r} arms: {e}") from e


def run_study(args) -> dict[str, Any]:
  """Runs every planned run not yet in ``args.out``, saving after each."""
  data = study_io.load_results(args.out)
  settings = study_settings(args)
  if data["runs"]:
    changed = protocol_changes(data["meta"].get("settings", {}), settings)
    if changed:
      raise SystemExit(
          f"{args.out} holds a study with other protocol settings "
          f"({changed[:5]}); the preregistered protocol cannot change "
          "mid-study. Use another --out for a new study (paths such as "
          "--data_dir are not settings).")
  prereg = preregistration()
  if not args.tiny and (prereg["uncommitted"] or not prereg["commit"]):
    raise SystemExit(f"{prereg['path']} is missing or has uncommitted "
                     "changes: commit the preregistration before the study "
                     "runs.")
  check_engine(args)
  data["meta"]["settings"] = settings
  data["meta"].setdefault("preregistration", prereg)
  session = {**provenance(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "loadavg_1min": os.getloadavg()[0],
             "preregistration": prereg}
  data["meta"].setdefault("sessions", []).append(session)
  runner = Runner(args)
  t0, done_now = time.time(), 0
  last = 0.0
  for phase, plan in (("tune", tuning_plan(args)), ("study", study_plan(args))):
    todo = [r for r in plan if run_key(r) not in data["runs"]]
    print(f"{phase}: {len(plan)} runs, {len(plan) - len(todo)} done, "
          f"{len(todo)} to go -> {args.out}", flush=True)
    rates = chosen_rates(data, args)
    for run in todo:
      if args.max_runs and done_now >= args.max_runs:
        return data
      if args.budget_s and time.time() - t0 + last > args.budget_s:
        print(f"stopping: the next run would pass --budget_s "
              f"{args.budget_s:g}", flush=True)
        return data
      lr = run["lr"] if phase == "tune" else rates.get(
          (run["cell"], run["arm"]))
      if lr is None:  # its tuning did not finish in this session
        continue
      record = runner.train(run, lr)
      record.update(commit=session["commit"], dirty=session["dirty"])
      data["runs"][run_key(run)] = record
      data["meta"].setdefault("pretrained", {}).update(runner.pretrained)
      study_io.save_results(args.out, data)
      done_now += 1
      last = record["total_time"]
      print(f"[{phase} {done_now}] {run_key(run)}: lr {lr:g}, test "
            f"{100 * record['test_accuracy']:.2f}% (best val epoch "
            f"{record['best_epoch']}; {record['total_time']:.1f} s; "
            f"{time.time() - t0:.0f} s this session)", flush=True)
  return data


def pilot(args) -> dict[str, Any]:
  """Times one arm per cell and projects the whole study's wall time.

  Per cell: the first run of a fresh setup (compile included) and a second
  seed on it. The projection charges each tuning setup (arm x rate) one
  compile, each run the second run's time, and each pre-training once.
  """
  runner = Runner(args)
  cells, total = [], 0.0
  pretrained_depths = set()
  for cell in args.cells:
    arm = "lerac_eq8"
    lr = grid(cell, args)[1]
    t = time.time()
    config = make_config(cell, arm, lr, args)
    pretrain_s = 0.0
    if cell.init == "pretrained" and cell.depth not in pretrained_depths:
      train.pretrained_variables(config)  # trains unless already saved
      pretrain_s = time.time() - t
      pretrained_depths.add(cell.depth)
    first = runner.train(dict(phase="pilot", cell=cell.name, arm=arm,
                              seed=10_000), lr)["total_time"]
    second = runner.train(dict(phase="pilot", cell=cell.name, arm=arm,
                               seed=10_001), lr)["total_time"]
    n_setups = len(cell.arms) * len(grid(cell, args))
    n_runs = len(cell.arms) * (len(grid(cell, args)) * len(args.tuning_seeds)
                               + len(args.seeds))
    projected = (pretrain_s + n_setups * max(first - second, 0.0)
                 + n_runs * second)
    total += projected
    cells.append(dict(cell=cell.name, pretrain_s=pretrain_s, first_s=first,
                      run_s=second, setups=n_setups, runs=n_runs,
                      projected_s=projected))
    print(f"{cell.name}: pre-train {pretrain_s:.1f} s, first run "
          f"{first:.1f} s, next {second:.1f} s; {n_runs} runs, "
          f"{n_setups} setups -> {projected / 60:.1f} min", flush=True)
  out = {"cells": cells, "projected_s": total,
         "runs": sum(c["runs"] for c in cells),
         "loadavg_1min": os.getloadavg()[0], "cpus": os.cpu_count(),
         **provenance(), "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
  print(f"projected total: {total / 3600:.2f} h for {out['runs']} runs "
        f"(load average {out['loadavg_1min']:.1f} on {out['cpus']} CPUs)",
        flush=True)
  return out


# ---------------------------------------------------------------------------
# Analysis.
# ---------------------------------------------------------------------------


def paired_contrast(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
  """Paired tests of ``a - b`` (points): CI, t, TOST, Wilcoxon, power.

  Returns:
    ``n``, ``mean_diff``, ``sd_diff``, the 95% t interval
    (``ci_low``, ``ci_high``), ``t_p`` (``stats.paired_tests``), the TOST
    p for +-``MARGIN`` (``tost_p``), ``wilcoxon_p``, and ``mdd``: the
    smallest difference a two-sided paired t-test at ``ALPHA`` detects
    with ``POWER`` given this SD.

  Example:
    >>> r = paired_contrast(np.array([1., 2., 3., 4.]),
    ...                     np.array([1., 2., 3., 3.]))
    >>> r['mean_diff'], r['n']
    (0.25, 4)
  """
  from scipy import stats as sps
  from statsmodels.stats.power import TTestPower
  from statsmodels.stats.weightstats import ttost_paired
  d = np.asarray(a, float) - np.asarray(b, float)
  n = len(d)
  out = {"n": n, "mean_diff": float(np.mean(d)) if n else math.nan,
         "sd_diff": math.nan, "ci_low": math.nan, "ci_high": math.nan,
         "t_p": math.nan, "tost_p": math.nan, "wilcoxon_p": math.nan,
         "mdd": math.nan}
  if n < 2:
    return out
  tests = stats.paired_tests(a, b)
  sd = float(np.std(d, ddof=1))
  out.update(sd_diff=sd, t_p=tests["t_pvalue"],
             wilcoxon_p=tests["wilcoxon_pvalue"])
  if sd > 0:
    half = float(sps.t.ppf(1 - ALPHA / 2, n - 1)) * sd / math.sqrt(n)
    effect = TTestPower().solve_power(nobs=n, alpha=ALPHA, power=POWER)
    out.update(ci_low=out["mean_diff"] - half,
               ci_high=out["mean_diff"] + half, mdd=float(effect) * sd,
               tost_p=float(ttost_paired(np.asarray(a, float),
                                         np.asarray(b, float),
                                         -MARGIN, MARGIN)[0]))
  return out


def decide(r: dict[str, Any]) -> str:
  """The preregistered decision for one contrast (Holm-adjusted p)."""
  if r["t_p_holm"] < ALPHA:
    return "better" if r["mean_diff"] > 0 else "worse"
  if r["tost_p_holm"] < ALPHA:
    return f"equivalent within ±{MARGIN:g}"
  return "inconclusive"


def accuracies(data) -> dict[tuple[str, str, int], float]:
  """Study-phase test accuracy (points) by (cell, arm, seed)."""
  return {(r["cell"], r["arm"], r["seed"]): 100 * r["test_accuracy"]
          for r in data["runs"].values() if r["phase"] == "study"}


def complete_seeds(acc, cell: str, arms) -> list[int]:
  seeds = sorted({s for (c, _, s) in acc if c == cell})
  return [s for s in seeds if all((cell, a, s) in acc for a in arms)]


def family(acc, cells, contrasts) -> list[dict[str, Any]]:
  """Every registered contrast in every cell that has both arms, Holm'd."""
  results = []
  for cell in cells:
    for a, b in contrasts:
      if a not in cell["arms"] or b not in cell["arms"]:
        continue
      seeds = complete_seeds(acc, cell["name"], (a, b))
      results.append({"cell": cell["name"], "a": a, "b": b, **paired_contrast(
          np.array([acc[cell["name"], a, s] for s in seeds]),
          np.array([acc[cell["name"], b, s] for s in seeds]))})
  for key in ("t_p", "tost_p"):
    for r, p in zip(results, stats.adjust_pvalues(
        [r[key] for r in results], "holm")):
      r[f"{key}_holm"] = p
  for r in results:
    r["decision"] = decide(r)
  return results


def regression(acc, cells, a: str, b: str) -> dict[str, Any] | None:
  """OLS of the paired difference ``a - b`` over the factorial cells.

  ``d ~ C(depth) + C(init) + C(optimizer)`` with HC3 standard errors: the
  coefficients are the arm x factor interactions (the difference is the
  arm effect; a factor that shifts it interacts with the arm). Depth's two
  terms are also tested jointly (Wald test).
  """
  import pandas as pd
  import statsmodels.formula.api as smf
  rows = []
  for cell in cells:
    if not (cell["model"] == "residual_mlp" and cell["k_fraction"] == 0.05
            and a in cell["arms"] and b in cell["arms"]):
      continue
    for s in complete_seeds(acc, cell["name"], (a, b)):
      rows.append({"d": acc[cell["name"], a, s] - acc[cell["name"], b, s],
                   "depth": str(cell["depth"]), "init": cell["init"],
                   "optimizer": cell["optimizer"]})
  frame = pd.DataFrame(rows)
  if len(frame) < 8 or any(frame[f].nunique() < 2
                           for f in ("depth", "init", "optimizer")):
    return None
  fit = smf.ols("d ~ C(depth, Treatment('4')) + C(init, Treatment('scratch'))"
                " + C(optimizer, Treatment('sgd'))", frame).fit(
                    cov_type="HC3")
  ci = fit.conf_int()
  terms = [{"term": t, "estimate": float(fit.params[t]),
            "ci_low": float(ci.loc[t, 0]), "ci_high": float(ci.loc[t, 1]),
            "p": float(fit.pvalues[t])} for t in fit.params.index]
  names = list(fit.params.index)
  restriction = np.eye(len(names))[[i for i, t in enumerate(names)
                                    if t.startswith("C(depth")]]
  wald = fit.wald_test(restriction, scalar=True)
  init_p = next(t["p"] for t in terms if t["term"].startswith("C(init"))
  # The registered "when" tests: depth x arm and init x arm, Holm'd as two.
  holm = stats.adjust_pvalues([float(wald.pvalue), init_p], "holm")
  return {"a": a, "b": b, "n": int(len(frame)), "terms": terms,
          "depth_joint_p": float(wald.pvalue), "depth_joint_p_holm": holm[0],
          "init_p_holm": holm[1]}


# ---------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------


def _p(p: float) -> str:
  return stats.format_p(p)


def family_table(results) -> str:
  lines = ["| cell | contrast | n | mean diff | 95% CI | SD of diffs "
           "| MDD (80%) | t p (raw / Holm) | TOST ±0.2 p (raw / Holm) "
           "| decision |", "|" + "---|" * 10]
  for r in results:
    lines.append(
        f"| {r['cell']} | {r['a']} - {r['b']} | {r['n']} | "
        f"{r['mean_diff']:+.2f} | [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
        f" | {r['sd_diff']:.2f} | {r['mdd']:.2f} | {_p(r['t_p'])} / "
        f"{_p(r['t_p_holm'])} | {_p(r['tost_p'])} / {_p(r['tost_p_holm'])} "
        f"| {r['decision']} |")
  return "\n".join(lines)


def short_term(term: str) -> str:
  """``C(depth, Treatment('4'))[T.16]`` -> ``depth 16 (vs 4)``."""
  m = re.match(r"C\((\w+), Treatment\('(\w+)'\)\)\[T\.(\w+)\]", term)
  return f"{m.group(1)} {m.group(3)} (vs {m.group(2)})" if m else term


def report(data: dict[str, Any], out_prefix: str) -> str:
  """Markdown tables and a figure from the study JSON."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  settings = data["meta"].get("settings", {})
  cells = settings.get("cells", [])
  runs = data["runs"]
  planned_tune = sum(len(c["arms"]) * len(settings["grids"][c["name"]])
                     * len(settings["tuning_seeds"]) for c in cells)
  planned_study = sum(len(c["arms"]) for c in cells) * len(
      settings.get("seeds", []))
  tuned = sum(r["phase"] == "tune" for r in runs.values())
  studied = sum(r["phase"] == "study" for r in runs.values())
  wall = sum(r["total_time"] for r in runs.values())
  commits = sorted({(r.get("commit") or "?")[:10] for r in runs.values()})
  dirty = sum(bool(r.get("dirty")) for r in runs.values())
  prereg = data["meta"].get("preregistration", {})
  lines = [
      f"Runs: {tuned} of {planned_tune} tuning and {studied} of "
      f"{planned_study} study runs done ({wall / 3600:.2f} h of wall time, "
      f"setup and compile included). Preregistration "
      f"`{prereg.get('path')}` at commit "
      f"`{(prereg.get('commit') or '?')[:10]}`. Code commits of the runs: "
      f"{', '.join(f'`{c}`' for c in commits) or 'none'}; runs on a dirty "
      f"tree: {dirty}.", ""]
  pretrained = data["meta"].get("pretrained", {})
  if pretrained:
    lines += ["Pre-trained models (even classes; validation accuracy after "
              "pre-training): " + ", ".join(
                  f"{d} depths {100 * r['val_accuracy']:.2f}%"
                  for d, r in sorted(pretrained.items(),
                                     key=lambda i: int(i[0]))) + ".", ""]
  acc = accuracies(data)
  rates = {}
  for r in runs.values():
    if r["phase"] == "study":
      rates[r["cell"], r["arm"]] = r["lr"]
  if rates:
    arms = list(dict.fromkeys(a for c in cells for a in c["arms"]))
    lines += ["Test accuracy % at the best validation epoch (mean ± SD over "
              "the study seeds; the rate chosen on the tuning seeds in "
              "brackets):", "",
              "| cell | " + " | ".join(arms) + " |",
              "|" + "---|" * (len(arms) + 1)]
    for c in cells:
      cellrow = [c["name"]]
      for arm in arms:
        vals = [v for (cc, a, _), v in acc.items()
                if cc == c["name"] and a == arm]
        if not vals:
          cellrow.append("")
          continue
        sd = np.std(vals, ddof=1) if len(vals) > 1 else 0.0
        cellrow.append(f"{np.mean(vals):.2f} ± {sd:.2f} "
                       f"({rates[c['name'], arm]:g})")
      lines.append("| " + " | ".join(cellrow) + " |")
    lines.append("")
  primary = family(acc, cells, PRIMARY)
  secondary = family(acc, cells, SECONDARY)
  if any(r["n"] >= 2 for r in primary):
    lines += [f"Primary contrast, Eq. 8 against the warm-up matched in k, in "
              f"every cell (Holm over these {len(primary)}; TOST margin "
              f"±{MARGIN:g} points; MDD: the difference a paired t-test "
              f"detects with 80% power at the observed SD):", "",
              family_table(primary), "",
              f"Secondary contrasts (Holm over these {len(secondary)}):", "",
              family_table(secondary), ""]
  by_k = [r for r in primary if r["n"] >= 2 and r["cell"].startswith(
      "scratch-d8-sgd")]
  if len(by_k) > 1:
    k_of = {c["name"]: c["k_fraction"] for c in cells}
    lines += ["k/T in the scratch, 8-depth, SGD cell (primary contrast, "
              "read side by side):", "",
              "| k/T | lerac_eq8 - warmup | 95% CI | decision |",
              "|---|---|---|---|"]
    for r in sorted(by_k, key=lambda r: k_of[r["cell"]]):
      lines.append(f"| {100 * k_of[r['cell']]:g}% | {r['mean_diff']:+.2f} | "
                   f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}] | "
                   f"{r['decision']} |")
    lines.append("")
  for a, b in (("lerac_eq8", "warmup"), ("lerac_eq8", "conventional")):
    fit = regression(acc, cells, a, b)
    if fit is None:
      continue
    lines += [f"When: OLS of the paired difference {a} - {b} (points) over "
              f"the 12 factorial cells (k/T = 5%, residual MLP), {fit['n']} "
              f"pairs, HC3 errors; a term is the change in the difference "
              f"(an arm x factor interaction). Depth x arm (Wald, both "
              f"depth terms): p {_p(fit['depth_joint_p'])}"
              + (f", Holm {_p(fit['depth_joint_p_holm'])}; init x arm: Holm"
                 f" p {_p(fit['init_p_holm'])} (the registered family of "
                 f"two)." if (a, b) == PRIMARY[0] else
                 " (secondary, unadjusted)."), "",
              "| term | estimate | 95% CI | p |", "|---|---|---|---|"]
    for t in fit["terms"]:
      lines.append(f"| {short_term(t['term'])} | {t['estimate']:+.2f} | "
                   f"[{t['ci_low']:+.2f}, {t['ci_high']:+.2f}] | "
                   f"{_p(t['p'])} |")
    lines.append("")
  shown = [r for r in primary + secondary
           if r["n"] >= 2 and not math.isnan(r["ci_low"])
           and r["b"] in ("warmup", "conventional") and r["a"] == "lerac_eq8"]
  # A collapsed cell (a mean beyond OFF_SCALE points) would squeeze every
  # other interval to a dot: it is drawn at the edge, its value written.
  on_scale = [r for r in shown if abs(r["mean_diff"]) <= OFF_SCALE]
  lo = min([-1.0] + [r["ci_low"] for r in on_scale]) - 0.1
  hi = max([1.0] + [r["ci_high"] for r in on_scale]) + 0.1
  fig, ax = plt.subplots(figsize=(8, 0.3 * len(shown) + 1.5))
  for i, r in enumerate(shown):
    color = "C0" if r["b"] == "warmup" else "C1"
    if abs(r["mean_diff"]) > OFF_SCALE:
      edge = lo if r["mean_diff"] < 0 else hi
      ax.plot(edge, i, "<" if edge == lo else ">", color=color,
              clip_on=False)
      ax.annotate(f"{r['mean_diff']:+.2f} [{r['ci_low']:+.2f}, "
                  f"{r['ci_high']:+.2f}]", (edge, i),
                  xytext=(8 if edge == lo else -8, -3),
                  textcoords="offset points", fontsize=7, color=color,
                  ha="left" if edge == lo else "right")
      continue
    ax.errorbar(r["mean_diff"], i, xerr=[[r["mean_diff"] - r["ci_low"]],
                                         [r["ci_high"] - r["mean_diff"]]],
                fmt="o", color=color)
  ax.set_xlim(lo, hi)
  ax.set_yticks(range(len(shown)))
  ax.set_yticklabels([f"{r['cell']} vs {r['b']}" for r in shown], fontsize=7)
  ax.axvline(0, color="k", lw=0.8)
  for m in (-MARGIN, MARGIN):
    ax.axvline(m, color="gray", ls=":", lw=0.8)
  ax.set_xlabel("lerac_eq8 minus the other arm, test accuracy points\n"
                "(mean and 95% CI; dotted: the ±0.2 margin;\n"
                "a triangle: off the scale, its value written)")
  fig.tight_layout()
  fig.savefig(out_prefix + ".png", dpi=100)
  plt.close(fig)
  text = "\n".join(lines)
  with open(out_prefix + ".md", "w") as f:
    f.write(text)
  return text


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--out", default=DEFAULT_OUT, help="the study JSON (a path)")
  p.add_argument("--data_dir", default="",
                 help="where the Fashion-MNIST files are (a path)")
  p.add_argument("--checkpoint_dir", default="",
                 help="where the pre-trained models are kept (a path; '' = "
                 "~/.cache/lerac_jax/pretrained)")
  p.add_argument("--report", action="store_true",
                 help="only write the tables and figure from --out (and the "
                 "README block, for the default --out)")
  p.add_argument("--pilot", action="store_true",
                 help="time one arm per cell, print the projected total and "
                 "write it next to --out (_pilot.json)")
  p.add_argument("--tiny", action="store_true",
                 help="smoke plan: digits, two cells, two arms, 2 epochs")
  p.add_argument("--max_runs", type=int, default=0,
                 help="stop after this many new runs (0: no limit)")
  p.add_argument("--budget_s", type=float, default=0.0,
                 help="stop before a run that would pass this many seconds "
                 "(0: no limit)")
  args = p.parse_args(argv)
  # Fixed by the preregistration, not options.
  args.cells = design(args.tiny)
  args.seeds = tuple(range(2 if args.tiny else 16))
  args.tuning_seeds = (1000,) if args.tiny else (1000, 1001)
  return args


def main(argv=None) -> dict[str, Any]:
  args = parse_args(argv)
  prefix = os.path.splitext(args.out)[0]
  if args.pilot:
    result = pilot(args)
    with open(prefix + "_pilot.json", "w") as f:
      json.dump(result, f, indent=1)
    return result
  data = study_io.load_or_run(args.out, args.report, lambda: run_study(args))
  text = report(data, prefix)
  if os.path.abspath(args.out) == os.path.abspath(DEFAULT_OUT):
    study_io.render_block(README, README_BEGIN, README_END, text)
  print(text)
  return data


if __name__ == "__main__":
  main()

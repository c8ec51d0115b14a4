# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
r"""Overhead of ``lerac_jax.lerac``: step, compile, state, HLO and memory.

Variants, compared in one process with interleaved repetitions:

* **A** plain: the optax optimizer alone.
* **B** ``lerac_jax.lerac(optimizer, depths, ...)``.
* **C** today's way in optax: ``optax.partition`` with one copy of the
  optimizer per depth, each with its own learning-rate schedule (scenic and
  big_vision build per-layer learning rates this way). Its schedules come from
  the same :meth:`lerac_jax.Curriculum.curve`, so B and C compute the same
  updates. A scanned (stacked) leaf holds several depths, which
  ``optax.partition`` cannot label, so for the scanned Transformer C unstacks
  those leaves into per-layer slices around the partition and restacks the
  updates (what a user would have to write).
* **D** the official PyTorch mechanism: ``torch.optim`` with one param group per
  layer whose ``lr`` is set every step, against the same torch model with one
  group (skipped, with a message, when torch is missing).

Figures: jitted step time (ratio to A, per interleaved pair), compile time
(``jax.jit(step).lower(...).compile()`` after ``jax.clear_caches()``, ratio to
A), optimizer-state bytes beyond the plain optimizer's, HLO instruction counts
of the compiled step and ``compiled.memory_analysis()``; on ResNet-18 also the
CBS model's step time against the plain model's.

Usage::

  python benchmarks/overhead.py                 # full run, ~22 min on 2 busy cores
  python benchmarks/overhead.py --quick --out /tmp/o.json   # tiny models
  python benchmarks/overhead.py --render benchmarks/results/overhead_cpu.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

if __package__ in (None, ""):  # run as a script: make the repo importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))

import lerac_jax  # pylint: disable=g-import-not-at-top
from lerac_jax import depths as depth_lib  # pylint: disable=g-import-not-at-top
from benchmarks import models  # pylint: disable=g-import-not-at-top
from benchmarks import study_io  # pylint: disable=g-import-not-at-top
from examples import models as example_models  # pylint: disable=g-import-not-at-top
from examples import train  # pylint: disable=g-import-not-at-top

# Curriculum settings: k is far beyond the timed steps, so every timed step of
# B and C is inside the curriculum (B's cost does not depend on t anyway: it
# has no branch).
CURRICULUM_STEPS = 1_000_000
MIN_SCALE = 1e-6
# The state target is LeracState's size: the int32 count and one float32
# multiplier per depth, 4 * (num_depths + 1) bytes, nothing per parameter.
TARGETS = {"step_ratio": 1.01, "compile_ratio": 1.10,
           "extra_state_bytes": "4 * (num_depths + 1)"}


# ---------------------------------------------------------------------------
# Settings.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelSetting:
  """One benchmark model and its optimizer.

  Attributes:
    name: ``'mlp'``, ``'resnet18'`` or ``'transformer'``.
    kwargs: keyword arguments of the Flax model (and of its torch twin).
    batch: batch size.
    input_shape: per-example input shape (tokens for the Transformer).
    optimizer: ``'adamw'`` or ``'sgd'`` (momentum 0.9, weight decay 5e-4, the
      CBS / LeRaC ResNet recipe).
    lr: base learning rate.
    steps_per_rep: optimizer steps timed together in one repetition.
    torch_steps_per_rep: the same for the PyTorch twin (variant D).
  """

  name: str
  kwargs: dict
  batch: int
  input_shape: tuple
  optimizer: str
  lr: float
  steps_per_rep: int
  torch_steps_per_rep: int = 1


FULL = {
    "mlp": ModelSetting("mlp", dict(num_layers=24, width=512), 8, (512,),
                        "adamw", 1e-3, 20, 10),
    "resnet18": ModelSetting("resnet18", dict(width=64), 8, (32, 32, 3),
                             "sgd", 0.1, 2, 1),
    "transformer": ModelSetting(
        "transformer", dict(num_layers=6, d_model=256, num_heads=4,
                            mlp_dim=1024, vocab_size=1024, max_len=64),
        8, (64,), "adamw", 1e-3, 3, 1),
}
QUICK = {
    "mlp": ModelSetting("mlp", dict(num_layers=4, width=32), 2, (32,),
                        "adamw", 1e-3, 2),
    "resnet18": ModelSetting("resnet18", dict(width=4, stage_sizes=(1, 1, 1, 1)),
                             2, (16, 16, 3),
                             "sgd", 0.1, 1),
    "transformer": ModelSetting(
        "transformer", dict(num_layers=2, d_model=16, num_heads=2, mlp_dim=32,
                            vocab_size=32, max_len=8),
        2, (8,), "adamw", 1e-3, 1),
}
# Depth counts for the state-bytes sweep (MLP layers), abstract only.
STATE_SWEEP_LAYERS = (2, 8, 24, 96)


# The training program's recipes (examples.train.create_optimizer): adamw with
# decoupled decay 1e-4; sgd with momentum 0.9 and L2 5e-4 added before it
# (torch.optim.SGD semantics), the CBS / LeRaC ResNet recipe.
OPTIMIZER_SETTINGS = {
    "adamw": dict(optimizer="adamw", weight_decay=1e-4),
    "sgd": dict(optimizer="sgd", weight_decay=5e-4, momentum=0.9,
                nesterov=False),
}


def make_optimizer(kind: str, lr) -> optax.GradientTransformation:
  """The plain optimizer; ``lr`` may be a float or a schedule."""
  if kind not in OPTIMIZER_SETTINGS:
    raise ValueError(f"unknown optimizer {kind!r}; use "
                     f"{' or '.join(OPTIMIZER_SETTINGS)}")
  return train.create_optimizer(
      ml_collections.ConfigDict(OPTIMIZER_SETTINGS[kind]), lr)


# ---------------------------------------------------------------------------
# Tasks: model, data, loss.
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Task:
  """A model with sample data, ready to build train steps for."""

  setting: ModelSetting
  model: Any
  params: Any
  extra: Any  # batch_stats (ResNet) or {} (no mutable state)
  batch: tuple  # (inputs, labels, sigma); sigma None: no CBS smoothing
  depths: lerac_jax.Depths


def make_task(setting: ModelSetting, cbs: bool = False, seed: int = 0) -> Task:
  """Builds the Flax model, its variables, a fixed batch and its depths."""
  rng = np.random.default_rng(seed)
  if setting.name == "mlp":
    model = models.MLP(**setting.kwargs)
  elif setting.name == "resnet18":  # the examples' CIFAR ResNet-18
    model = example_models.ResNet18(**setting.kwargs)
  elif setting.name == "transformer":
    model = models.ScanTransformer(**setting.kwargs)
  else:
    raise ValueError(setting.name)
  shape = (setting.batch,) + tuple(setting.input_shape)
  if setting.name == "transformer":
    x = jnp.asarray(rng.integers(0, setting.kwargs["vocab_size"], shape),
                    jnp.int32)
  else:
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
  y = jnp.asarray(rng.integers(0, 10, (setting.batch,)), jnp.int32)
  # CBS is on when sigma is an array (traced, so it never recompiles) and off
  # with None, which builds the ResNet without smoothing layers.
  sigma = jnp.asarray(1.0, jnp.float32) if cbs else None
  kwargs = dict(train=True, sigma=sigma) if setting.name == "resnet18" else {}
  variables = init_variables(model, (x,), rng, kwargs)
  depths = lerac_jax.depths_from_model(model, x, **kwargs)
  params = variables["params"]
  extra = {k: v for k, v in variables.items() if k != "params"}
  return Task(setting, model, params, extra, (x, y, sigma), depths)


def init_variables(model, args, rng: np.random.Generator,
                   kwargs: dict | None = None):
  """Variables with the model's shapes, drawn on the host with NumPy.

  ``model.init`` compiles (or dispatches op by op) the initializers of every
  layer, which takes 15+ s for ResNet-18 on a busy 2-core CPU; the benchmark
  needs only sane values: kernels and embeddings ~ N(0, 1/fan_in), norm scales
  and running variances 1, biases and running means 0.

  Args:
    model: the Flax module.
    args: its positional sample inputs.
    rng: the NumPy generator the values are drawn from.
    kwargs: its keyword inputs; ``train=True`` when not given.

  Returns:
    The variables, as ``model.init`` would shape them.
  """
  kwargs = dict(train=True) if kwargs is None else kwargs
  shapes = jax.eval_shape(functools.partial(model.init, **kwargs),
                          jax.random.key(0), *args)

  def draw(path, leaf):
    name = depth_lib.path_to_str(path).rsplit("/", 1)[-1]
    if name in ("scale", "var"):
      value = np.ones(leaf.shape)
    elif name in ("bias", "mean") or len(leaf.shape) < 2:
      value = np.zeros(leaf.shape)
    else:
      fan_in = math.prod(leaf.shape[:-1]) if name == "kernel" else leaf.shape[-1]
      if len(leaf.shape) >= 3 and name == "kernel" and "blocks" in (
          depth_lib.path_to_str(path)):  # scanned: drop the layer axis
        fan_in = math.prod(leaf.shape[1:-1])
      value = rng.standard_normal(leaf.shape) / math.sqrt(fan_in)
    return jnp.asarray(value, leaf.dtype)

  return jax.tree_util.tree_map_with_path(draw, shapes)


def loss_and_extra(task: Task, params, extra, batch) -> tuple[Any, Any]:
  """Mean cross-entropy of ``batch`` and the updated BatchNorm statistics."""
  x, y, sigma = batch
  if task.setting.name == "resnet18":
    logits, new_extra = task.model.apply(
        {"params": params, **extra}, x, train=True, sigma=sigma,
        mutable=list(extra))
  else:
    logits, new_extra = task.model.apply({"params": params}, x), extra
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
  return loss, new_extra


def make_step(task: Task, tx: optax.GradientTransformation) -> Callable:
  """A fresh (un-jitted) train step ``(carry, batch) -> (carry, loss)``."""

  def step(carry, batch):
    params, extra, opt_state = carry
    params, opt_state, loss, new_extra = train.optimizer_step(
        lambda p: loss_and_extra(task, p, extra, batch), tx, params,
        opt_state)
    return (params, new_extra, opt_state), loss

  return step


# ---------------------------------------------------------------------------
# The three optax variants.
# ---------------------------------------------------------------------------


def leaf_depths(depths: lerac_jax.Depths, params) -> list:
  """Each parameter leaf's depth (an int, or a ``Stacked``), flattening order."""
  flat, _ = jax.tree_util.tree_flatten_with_path(params)
  return [depths.depth_of(depth_lib.path_to_str(p)) for p, _ in flat]


def unstack_stacked(inner: optax.GradientTransformation,
                    stack_axes: list) -> optax.GradientTransformation:
  """Runs ``inner`` on a view of the tree whose stacked leaves are split.

  Every leaf with a non-None entry in ``stack_axes`` (flattening order) is
  replaced by a tuple of its slices along that axis before ``inner`` sees it;
  the updates are restacked afterwards. This is what ``optax.partition`` needs
  to give each layer of an ``nn.scan`` its own optimizer copy.

  Args:
    inner: a transformation for the unstacked tree.
    stack_axes: one entry per leaf: ``None`` or ``(axis, size)``.

  Returns:
    A transformation on the original (stacked) tree.
  """

  def split(tree):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    out = []
    for leaf, spec in zip(leaves, stack_axes):
      if spec is None:
        out.append(leaf)
      else:
        axis, size = spec
        out.append(tuple(jnp.take(leaf, i, axis=axis) for i in range(size)))
    return out, treedef

  def init_fn(params):
    return inner.init(split(params)[0])

  def update_fn(updates, state, params=None, **extra):
    flat, treedef = split(updates)
    flat_params = None if params is None else split(params)[0]
    new, state = inner.update(flat, state, flat_params, **extra)
    leaves = [u if spec is None else jnp.stack(u, axis=spec[0])
              for u, spec in zip(new, stack_axes)]
    return jax.tree_util.tree_unflatten(treedef, leaves), state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def partition_optimizer(kind: str, lr: float, depths: lerac_jax.Depths,
                        params, curriculum_steps: int = CURRICULUM_STEPS
                        ) -> optax.GradientTransformation:
  """Variant C: ``optax.partition``, one optimizer copy per depth.

  Copy ``d`` gets the schedule ``lr * m_d(count)`` where ``m_d`` is
  :meth:`lerac_jax.Curriculum.curve` with depth ``d``'s initial ratio, so
  its learning rate equals what :func:`lerac_jax.lerac` gives depth ``d``.

  Args:
    kind: the optimizer kind (see :func:`make_optimizer`).
    lr: base learning rate.
    depths: the depths B uses.
    params: the parameter tree (its structure gives the labels).
    curriculum_steps: k.

  Returns:
    The per-depth optimizer.
  """
  n = depths.num_depths
  ratios = np.asarray(lerac_jax.Curriculum(
      curriculum_steps=curriculum_steps, min_scale=MIN_SCALE).curve(n)(0))

  def schedule(d):
    curve = lerac_jax.Curriculum(
        curriculum_steps=curriculum_steps,
        initial_ratios=[float(ratios[d])]).curve(1)
    return lambda count: lr * curve(count)[0]

  transforms = {f"depth_{d}": make_optimizer(kind, schedule(d))
                for d in range(n)}
  values = leaf_depths(depths, params)
  stack_axes = [(v.axis, len(v.depths)) if isinstance(v, lerac_jax.Stacked)
                else None for v in values]
  labels = [tuple(f"depth_{d}" for d in v.depths)
            if isinstance(v, lerac_jax.Stacked) else f"depth_{v}"
            for v in values]
  if any(s is not None for s in stack_axes):
    return unstack_stacked(optax.partition(transforms, labels), stack_axes)
  treedef = jax.tree_util.tree_structure(params)
  return optax.partition(transforms,
                         jax.tree_util.tree_unflatten(treedef, labels))


def make_tx(variant: str, task: Task,
            curriculum_steps: int = CURRICULUM_STEPS
            ) -> optax.GradientTransformation:
  """The optimizer of variant ``'A'``, ``'B'`` or ``'C'``."""
  s = task.setting
  if variant == "A":
    return make_optimizer(s.optimizer, s.lr)
  if variant == "B":
    return lerac_jax.lerac(make_optimizer(s.optimizer, s.lr), task.depths,
                           curriculum_steps=curriculum_steps,
                           min_scale=MIN_SCALE)
  if variant == "C":
    return partition_optimizer(s.optimizer, s.lr, task.depths, task.params,
                               curriculum_steps)
  raise ValueError(variant)


# ---------------------------------------------------------------------------
# Measurements.
# ---------------------------------------------------------------------------


def tree_bytes(tree) -> int:
  """Sum of ``nbytes`` over the array leaves of a (possibly abstract) tree."""
  return int(sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize
                 for x in jax.tree_util.tree_leaves(tree)))


def state_bytes(tx, params) -> int:
  return tree_bytes(jax.eval_shape(tx.init, params))


# [ROOT] %name = shape opcode(...); the shape may be a tuple with spaces.
_INSTRUCTION = re.compile(
    r"^(ROOT\s+)?%?[\w.\-]+\s*=\s*.*?\s([\w\-]+)\(")


# ENTRY instructions that launch nothing: inputs, literals, and views of a
# multi-output kernel's buffers.
_NOT_KERNELS = ("parameter", "constant", "get-tuple-element", "tuple",
                "bitcast")


def count_hlo(text: str) -> dict:
  """Counts instructions in a compiled module's ``as_text()``.

  An instruction is a line ``[ROOT] name = type opcode(...)``. ``total`` counts
  them in every computation (fused bodies, reducers and loop bodies included);
  ``entry`` only in the ENTRY computation, where each fusion is one kernel;
  ``entry_fusions`` the ENTRY instructions whose opcode is ``fusion``;
  ``entry_kernels`` the ENTRY instructions that run code (not a parameter,
  constant, tuple, bitcast or get-tuple-element); ``entry_buffers`` the
  get-tuple-elements, each one buffer of a multi-output kernel.

  Args:
    text: the optimized HLO text.

  Returns:
    A dict with ``total``, ``entry``, ``entry_fusions``, ``entry_kernels``,
    ``entry_buffers`` and ``computations``.
  """
  total = entry = fusions = kernels = buffers = computations = 0
  in_entry = False
  for line in text.splitlines():
    s = line.strip()
    if s.endswith("{") and not _INSTRUCTION.match(s):
      computations += 1
      in_entry = s.startswith("ENTRY")
      continue
    if s == "}":
      in_entry = False
      continue
    m = _INSTRUCTION.match(s)
    if m:
      total += 1
      if in_entry:
        entry += 1
        opcode = m.group(2)
        fusions += opcode == "fusion"
        kernels += opcode not in _NOT_KERNELS
        buffers += opcode == "get-tuple-element"
  return dict(total=total, entry=entry, entry_fusions=fusions,
              entry_kernels=kernels, entry_buffers=buffers,
              computations=computations)


MEMORY_FIELDS = ("argument_size_in_bytes", "output_size_in_bytes",
                 "alias_size_in_bytes", "temp_size_in_bytes",
                 "generated_code_size_in_bytes", "peak_memory_in_bytes")


def memory_stats(compiled) -> dict | None:
  try:
    m = compiled.memory_analysis()
  except Exception as e:  # pylint: disable=broad-except
    return {"error": repr(e)}
  if m is None:
    return None
  return {f: int(getattr(m, f)) for f in MEMORY_FIELDS if hasattr(m, f)}


def jit_step(step):
  return jax.jit(step, donate_argnums=0)


def compile_once(task: Task, variant: str):
  """Builds a fresh step for ``variant`` and lowers and compiles it.

  Returns:
    ``(compiled, lower_seconds, compile_seconds, carry)``.
  """
  tx = make_tx(variant, task)
  carry = (task.params, task.extra, tx.init(task.params))
  abstract = jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), (carry, task.batch))
  step = make_step(task, tx)
  t0 = time.perf_counter()
  lowered = jit_step(step).lower(*abstract)
  t1 = time.perf_counter()
  compiled = lowered.compile()
  t2 = time.perf_counter()
  return compiled, t1 - t0, t2 - t1, carry


def copy_tree(tree):
  return jax.tree_util.tree_map(jnp.array, tree)


def summarize(values) -> dict:
  v = np.asarray(values, np.float64)
  q25, q50, q75 = np.percentile(v, [25, 50, 75])
  return dict(median=float(q50), q25=float(q25), q75=float(q75),
              iqr=float(q75 - q25), min=float(v.min()), max=float(v.max()),
              n=int(v.size))


def loadavg():
  try:
    return list(os.getloadavg())
  except OSError:
    return None


def log(msg: str) -> None:
  print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def check_b_equals_c(task: Task, steps: int = 4) -> float:
  """Max relative difference between B's and C's updates on real gradients.

  Both optimizers get the model's gradient at the initial parameters for
  ``steps`` updates with ``k = 3``, so the multipliers move from their initial
  ratios to 1 within the check. (Comparing whole training trajectories instead
  would also compare how Adam amplifies last-bit rounding differences.)

  Returns:
    ``max over steps and leaves of |u_B - u_C| / max |u_B|``.
  """
  grads = jax.jit(jax.grad(lambda p: loss_and_extra(
      task, p, task.extra, task.batch)[0]))(task.params)
  txs = {v: make_tx(v, task, curriculum_steps=3) for v in ("B", "C")}
  states = {v: tx.init(task.params) for v, tx in txs.items()}
  updates = {v: jax.jit(tx.update) for v, tx in txs.items()}
  worst = 0.0
  for _ in range(steps):
    out = {}
    for v in txs:
      out[v], states[v] = updates[v](grads, states[v], task.params)
    lb, lc = (jax.tree_util.tree_leaves(out[v]) for v in ("B", "C"))
    scale = max(float(jnp.max(jnp.abs(u))) for u in lb) + 1e-30
    worst = max(worst, max(float(jnp.max(jnp.abs(u - w))) for u, w in zip(
        lb, lc)) / scale)
  return worst


def bench_model(setting: ModelSetting, step_pairs: int, compile_pairs: int,
                with_cbs: bool) -> dict:
  """All JAX figures for one model."""
  task = make_task(setting)
  variants = ["A", "B", "C"]
  tasks = {v: task for v in variants}
  if with_cbs:
    tasks["A_cbs"] = make_task(setting, cbs=True)
    variants.append("A_cbs")
  res: dict[str, Any] = dict(
      setting=dataclasses.asdict(setting),
      num_depths=task.depths.num_depths,
      num_param_leaves=len(jax.tree_util.tree_leaves(task.params)),
      num_params=models.num_params(task.params),
      variants={})

  # B == C (same learning rates, same updates).
  res["b_vs_c_max_rel_diff"] = check_b_equals_c(task)
  log(f"{setting.name}: B vs C max rel diff "
      f"{res['b_vs_c_max_rel_diff']:.2e}")

  # Compile time: fresh functions and cleared caches every repetition,
  # interleaved A, B, C. The first repetition's executables are kept for the
  # HLO counts, the memory analysis and the step timing.
  compiled, carries = {}, {}
  ctimes = {v: [] for v in ("A", "B", "C")}
  ltimes = {v: [] for v in ("A", "B", "C")}
  for rep in range(compile_pairs):
    for v in ("A", "B", "C"):
      jax.clear_caches()
      c, tl, tc, carry = compile_once(task, v)
      ltimes[v].append(tl)
      ctimes[v].append(tl + tc)
      if rep == 0:
        compiled[v], carries[v] = c, copy_tree(carry)
  if with_cbs:
    c, _, _, carry = compile_once(tasks["A_cbs"], "A")
    compiled["A_cbs"], carries["A_cbs"] = c, copy_tree(carry)
  for v in ("A", "B", "C"):
    res["variants"][v] = dict(
        lower_seconds=ltimes[v], lower_plus_compile_seconds=ctimes[v],
        lower_plus_compile_summary=summarize(ctimes[v]))
  for v in ("B", "C"):
    res["variants"][v]["compile_ratio"] = summarize(
        np.asarray(ctimes[v]) / np.asarray(ctimes["A"]))
  log(f"{setting.name}: compile A {np.median(ctimes['A']):.2f} s, B/A "
      f"{res['variants']['B']['compile_ratio']['median']:.4f}, C/A "
      f"{res['variants']['C']['compile_ratio']['median']:.4f}")
  plain_state = state_bytes(make_tx("A", task), task.params)
  for v in variants:
    sb = state_bytes(make_tx(v.split("_")[0], tasks[v]), tasks[v].params)
    res["variants"].setdefault(v, {}).update(
        hlo=count_hlo(compiled[v].as_text()), memory=memory_stats(compiled[v]),
        state_bytes=sb, extra_state_bytes=sb - plain_state)
  log(f"{setting.name}: HLO " + ", ".join(
      f"{v}={res['variants'][v]['hlo']['total']}" for v in variants))

  # Step time: interleaved pairs (A, B, C[, A_cbs]) after a warm-up.
  for v in variants:
    for _ in range(2):
      carries[v], loss = compiled[v](carries[v], tasks[v].batch)
    jax.block_until_ready((carries[v], loss))
  times = {v: [] for v in variants}
  for _ in range(step_pairs):
    for v in variants:
      carry = carries[v]
      t0 = time.perf_counter()
      for _ in range(setting.steps_per_rep):
        carry, loss = compiled[v](carry, tasks[v].batch)
      jax.block_until_ready((carry, loss))
      times[v].append((time.perf_counter() - t0) / setting.steps_per_rep)
      carries[v] = carry
  for v in variants:
    res["variants"][v]["step_seconds"] = times[v]
    res["variants"][v]["step_seconds_summary"] = summarize(times[v])
  for v in ("B", "C"):
    res["variants"][v]["step_ratio"] = summarize(
        np.asarray(times[v]) / np.asarray(times["A"]))
  if with_cbs:
    res["cbs_step_ratio"] = summarize(
        np.asarray(times["A_cbs"]) / np.asarray(times["A"]))
  log(f"{setting.name}: step A {np.median(times['A']) * 1e3:.2f} ms, B/A "
      f"{res['variants']['B']['step_ratio']['median']:.4f}, C/A "
      f"{res['variants']['C']['step_ratio']['median']:.4f}"
      + (f", CBS/plain {res['cbs_step_ratio']['median']:.4f}"
         if with_cbs else ""))
  return res


def state_sweep(layer_counts=STATE_SWEEP_LAYERS) -> list[dict]:
  """Extra state bytes of B and C for MLPs of several depths (abstract)."""
  out = []
  for layers in layer_counts:
    for kind in ("adamw", "sgd"):
      setting = ModelSetting("mlp", dict(num_layers=layers, width=16), 1,
                             (16,), kind, 1e-3, 1)
      model = models.MLP(**setting.kwargs)
      x = jnp.ones((1, 16))
      params = jax.eval_shape(model.init, jax.random.key(0), x)["params"]
      depths = lerac_jax.depths_from_model(model, x)
      task = Task(setting, model, params, {}, (x, None, None), depths)
      a = state_bytes(make_tx("A", task), params)
      out.append(dict(layers=layers, optimizer=kind,
                      num_depths=depths.num_depths, plain_state_bytes=a,
                      extra_B=state_bytes(make_tx("B", task), params) - a,
                      extra_C=state_bytes(make_tx("C", task), params) - a))
  return out


# ---------------------------------------------------------------------------
# Depth-count sweep: how B's cost grows with the number of depths.
# ---------------------------------------------------------------------------

DEPTH_SWEEP = (10, 100, 1000, 3000)
DEPTH_SWEEP_LEAF = (8, 8)


def depth_sweep_update(num_depths: int, lerac: bool):
  """Adam (B: with LeRaC) on ``num_depths`` same-shaped leaves, one per depth.

  The worst case for the per-depth scalars: every leaf its own depth, all
  leaves the same shape, so A compiles one update kernel for all of them.

  Returns:
    ``(jitted update, params, opt_state)``; the update maps
    ``(params, opt_state) -> (params, opt_state)`` with the params as
    gradients.
  """
  params = {f"l{i:04d}": jnp.full(DEPTH_SWEEP_LEAF, 1.0 + i / num_depths)
            for i in range(num_depths)}
  tx = optax.adam(1e-3)
  if lerac:
    tx = lerac_jax.lerac(tx, {k: i for i, k in enumerate(params)},
                         curriculum_steps=CURRICULUM_STEPS,
                         min_scale=MIN_SCALE)

  def update(params, state):
    updates, state = tx.update(params, state, params)
    return optax.apply_updates(params, updates), state

  return jax.jit(update), params, tx.init(params)


def depth_sweep(depth_counts=DEPTH_SWEEP, compile_pairs: int = 3,
                step_pairs: int = 11) -> list[dict]:
  """Compile and step time of B against A for several depth counts.

  For each count: ``compile_pairs`` interleaved compiles of A and B (fresh
  jit, caches cleared, order alternating), then ``step_pairs`` interleaved
  timed steps of the compiled updates; ratios are medians of per-pair ratios.
  """
  out = []
  for num_depths in depth_counts:
    compile_s = {"A": [], "B": []}
    compiled = {}
    for pair in range(compile_pairs):
      for v in (("A", "B") if pair % 2 == 0 else ("B", "A")):
        jax.clear_caches()
        fn, params, state = depth_sweep_update(num_depths, v == "B")
        t0 = time.perf_counter()
        compiled[v] = (fn.lower(params, state).compile(), params, state)
        compile_s[v].append(time.perf_counter() - t0)
    carry = {v: (copy_tree(p), copy_tree(s)) for v, (_, p, s) in
             compiled.items()}
    for v in carry:  # one untimed step each
      carry[v] = jax.block_until_ready(compiled[v][0](*carry[v]))
    step_s = {"A": [], "B": []}
    for pair in range(step_pairs):
      for v in (("A", "B") if pair % 2 == 0 else ("B", "A")):
        t0 = time.perf_counter()
        carry[v] = jax.block_until_ready(compiled[v][0](*carry[v]))
        step_s[v].append(time.perf_counter() - t0)
    row = dict(
        num_depths=num_depths, leaf_shape=list(DEPTH_SWEEP_LEAF),
        compile_seconds=compile_s, step_seconds=step_s,
        compile_ratio=summarize(np.divide(compile_s["B"], compile_s["A"])),
        step_ratio=summarize(np.divide(step_s["B"], step_s["A"])),
        hlo={v: count_hlo(compiled[v][0].as_text()) for v in compiled})
    log(f"depth sweep {num_depths:>5} depths: A compile "
        f"{np.median(compile_s['A']):.2f} s, B/A compile "
        f"{row['compile_ratio']['median']:.3f}, B/A step "
        f"{row['step_ratio']['median']:.3f}")
    out.append(row)
  return out


def render_depth_sweep(rows: list[dict]) -> str:
  lines = [
      "| depths | A compile (s) | B/A compile | A step (ms) | B/A step |",
      "|---|---|---|---|---|"]
  for r in rows:
    lines.append(
        f"| {r['num_depths']} | {np.median(r['compile_seconds']['A']):.2f} | "
        f"{_ratio(r['compile_ratio'])} | "
        f"{1e3 * np.median(r['step_seconds']['A']):.2f} | "
        f"{_ratio(r['step_ratio'])} |")
  return "\n".join(lines) + "\n"


def plot_depth_sweep(rows: list[dict], path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  d = [r["num_depths"] for r in rows]
  fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
  for v, style in (("A", "o-"), ("B", "s-")):
    left.plot(d, [np.median(r["compile_seconds"][v]) for r in rows], style,
              label={"A": "A: adam", "B": "B: lerac(adam)"}[v])
  left.set(xscale="log", yscale="log", xlabel="depths (one leaf each)",
           ylabel="compile time (s)", title="Compile time")
  left.legend(loc="upper left")
  for key, label in (("compile_ratio", "compile"), ("step_ratio", "step")):
    med = [r[key]["median"] for r in rows]
    err = [[m - r[key]["q25"] for m, r in zip(med, rows)],
           [r[key]["q75"] - m for m, r in zip(med, rows)]]
    right.errorbar(d, med, yerr=err, fmt="o-", capsize=3, label=label)
  right.axhline(1.5, color="gray", ls=":", label="1.5x target (compile)")
  right.set(xscale="log", xlabel="depths (one leaf each)", ylabel="B / A",
            title="B / A (median, IQR)")
  # Below the axes: inside, the legend covers the 10-100 depth points.
  right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3,
               frameon=False)
  fig.tight_layout()
  fig.savefig(path, dpi=120, bbox_inches="tight")
  plt.close(fig)


# ---------------------------------------------------------------------------
# D: PyTorch param groups.
# ---------------------------------------------------------------------------


def check_torch_groups(setting: ModelSetting, net, groups: list[list]):
  """Checks that a torch twin's param groups are the JAX LeRaC depths.

  Every parameter must be in exactly one group, and the count must equal
  ``depths_from_model(...).num_depths`` of the Flax model. The ResNet twin
  names its modules as the Flax model does, so there every parameter must
  also sit in the group of its Flax twin's depth.

  Args:
    setting: the model setting (its Flax model gives the depths).
    net: the torch twin.
    groups: ``models.torch_layer_groups(net)``.

  Raises:
    AssertionError: if the groups do not mirror the depths.
  """
  depths = make_task(setting).depths
  assert len(groups) == depths.num_depths, (
      f"{setting.name}: {len(groups)} torch groups, {depths.num_depths} "
      "LeRaC depths")
  grouped = sorted(id(p) for g in groups for p in g)
  assert grouped == sorted(id(p) for p in net.parameters()), (
      f"{setting.name}: the groups do not hold every parameter exactly once")
  if setting.name != "resnet18":
    return
  from torch import nn as tnn  # pylint: disable=g-import-not-at-top
  names = {id(p): name for name, p in net.named_parameters()}
  modules = dict(net.named_modules())
  for g, params in enumerate(groups):
    for p in params:
      prefix, _, leaf = names[id(p)].rpartition(".")
      if leaf == "weight":
        norm = isinstance(modules[prefix], tnn.BatchNorm2d)
        leaf = "scale" if norm else "kernel"
      path = f"{prefix.replace('.', '/')}/{leaf}"
      assert depths.depth_of(path) == g, (path, depths.depth_of(path), g)


def bench_torch(setting: ModelSetting, pairs: int, seed: int = 0,
                threads: int = 1) -> dict:
  """Per-layer param groups with ``lr`` set every step vs one group.

  Args:
    setting: the model setting (its torch twin is built).
    pairs: interleaved (one group, per layer) repetitions.
    seed: seed of the model and the data.
    threads: ``torch.set_num_threads``; 1 by default, because torch's
      intra-op thread pool slows down by large, erratic factors when the CPU is
      oversubscribed (a shared machine). Both variants use the same setting.

  Returns:
    The per-pair timings and their ratio.
  """
  import torch  # pylint: disable=g-import-not-at-top
  if threads:
    torch.set_num_threads(threads)
  torch.manual_seed(seed)
  ctor = models.torch_models()[setting.name]
  kwargs = dict(setting.kwargs)
  base = ctor(**kwargs)
  rng = np.random.default_rng(seed)
  shape = (setting.batch,) + tuple(setting.input_shape)
  if setting.name == "transformer":
    x = torch.as_tensor(rng.integers(0, kwargs["vocab_size"], shape))
  elif setting.name == "resnet18":  # NCHW
    x = torch.as_tensor(rng.standard_normal(shape), dtype=torch.float32)
    x = x.permute(0, 3, 1, 2).contiguous()
  else:
    x = torch.as_tensor(rng.standard_normal(shape), dtype=torch.float32)
  y = torch.as_tensor(rng.integers(0, 10, (setting.batch,)))

  def optimizer(params):
    if setting.optimizer == "adamw":
      return torch.optim.AdamW(params, lr=setting.lr, weight_decay=1e-4)
    return torch.optim.SGD(params, lr=setting.lr, momentum=0.9,
                           weight_decay=5e-4)

  import copy  # pylint: disable=g-import-not-at-top
  one = copy.deepcopy(base)
  per = copy.deepcopy(base)
  groups = models.torch_layer_groups(per)
  n = len(groups)
  check_torch_groups(setting, per, groups)
  opts = {"D_one_group": optimizer(one.parameters()),
          "D_per_layer": optimizer([{"params": g} for g in groups])}
  nets = {"D_one_group": one, "D_per_layer": per}
  spr = setting.torch_steps_per_rep
  total_steps = (pairs + 2) * spr + 1
  curve = lerac_jax.Curriculum(
      curriculum_steps=CURRICULUM_STEPS, min_scale=MIN_SCALE).curve(n)
  table = np.asarray(jax.vmap(curve)(jnp.arange(total_steps)), np.float64)
  table = (setting.lr * table).tolist()  # Python floats, as the official code
  counters = {"D_one_group": 0, "D_per_layer": 0}

  def run(v, steps):
    net, opt = nets[v], opts[v]
    for _ in range(steps):
      if v == "D_per_layer":
        lrs = table[counters[v]]
        for g, lr in zip(opt.param_groups, lrs):
          g["lr"] = lr
      counters[v] += 1
      opt.zero_grad(set_to_none=True)
      loss = torch.nn.functional.cross_entropy(net(x), y)
      loss.backward()
      opt.step()
    return float(loss.detach())

  for v in nets:
    run(v, 2 * spr)
  times = {v: [] for v in nets}
  for _ in range(pairs):
    for v in nets:
      t0 = time.perf_counter()
      run(v, spr)
      times[v].append((time.perf_counter() - t0) / spr)
  ratio = summarize(np.asarray(times["D_per_layer"]) /
                    np.asarray(times["D_one_group"]))
  log(f"{setting.name}: torch per-layer/one-group {ratio['median']:.4f} "
      f"({n} groups)")
  return dict(num_groups=n, torch_threads=torch.get_num_threads(),
              step_seconds={v: times[v] for v in times},
              step_seconds_summary={v: summarize(times[v]) for v in times},
              step_ratio=ratio)


# ---------------------------------------------------------------------------
# Markdown tables.
# ---------------------------------------------------------------------------


def _ratio(s: dict) -> str:
  return f"{s['median']:.3f} [{s['q25']:.3f}, {s['q75']:.3f}]"


def _ok(value: float, target: float) -> str:
  return "yes" if value <= target else "**no**"


def render_summary(results: dict) -> str:
  """The headline table: ratios against the targets (docs/benchmarks.md)."""
  meta = results["meta"]
  lines = [
      f"Backend `{meta['backend']}` ({meta['device_kind']}), "
      f"{meta['step_pairs']} step pairs, {meta['compile_pairs']} compile "
      "pairs; ratios are the median of per-pair ratios [25th, 75th "
      "percentile].",
      "",
      "| model | depths | B/A step (target <= 1.01) | met | C/A step | "
      "B/A compile (target <= 1.10) | met | C/A compile | B extra state "
      "bytes (target 4 (depths + 1)) | C extra state bytes |",
      "|---|---|---|---|---|---|---|---|---|---|",
  ]
  for name, r in results["models"].items():
    b, c = r["variants"]["B"], r["variants"]["C"]
    lines.append(
        f"| {name} | {r['num_depths']} | {_ratio(b['step_ratio'])} | "
        f"{_ok(b['step_ratio']['median'], TARGETS['step_ratio'])} | "
        f"{_ratio(c['step_ratio'])} | {_ratio(b['compile_ratio'])} | "
        f"{_ok(b['compile_ratio']['median'], TARGETS['compile_ratio'])} | "
        f"{_ratio(c['compile_ratio'])} | {b['extra_state_bytes']} | "
        f"{c['extra_state_bytes']} |")
  return "\n".join(lines)


def render(results: dict) -> str:
  """The README tables for one results file (deterministic)."""
  lines = [
      render_summary(results),
      "",
      "Absolute medians (meaningful only on an accelerator; on a shared CPU "
      "use the ratios):",
      "",
      "| model | params | A step ms | B step ms | C step ms | A compile s | "
      "B compile s | C compile s |",
      "|---|---|---|---|---|---|---|---|",
  ]
  for name, r in results["models"].items():
    v = r["variants"]
    lines.append(
        f"| {name} | {r['num_params']:,} | "
        + " | ".join(f"{v[k]['step_seconds_summary']['median'] * 1e3:.2f}"
                     for k in "ABC") + " | "
        + " | ".join(f"{v[k]['lower_plus_compile_summary']['median']:.2f}"
                     for k in "ABC") + " |")
  lines += [
      "",
      "HLO instructions in the compiled step (`total`: every computation, "
      "fused bodies included; `entry`: the ENTRY computation, where each "
      "fusion is one kernel; of what B adds there, `kernels` run code and "
      "`buffers` are get-tuple-elements, one output buffer of a "
      "multi-output kernel each, which launch nothing):",
      "",
      "| model | A total | B total | C total | A entry | B entry | C entry | "
      "B - A total | C - A total | B - A entry kernels | B - A entry buffers "
      "|",
      "|---|---|---|---|---|---|---|---|---|---|---|",
  ]
  for name, r in results["models"].items():
    h = {k: r["variants"][k]["hlo"] for k in "ABC"}
    added = [str(h["B"][f] - h["A"][f]) if f in h["A"] else "n/a"
             for f in ("entry_kernels", "entry_buffers")]
    lines.append(
        f"| {name} | {h['A']['total']} | {h['B']['total']} | "
        f"{h['C']['total']} | {h['A']['entry']} | {h['B']['entry']} | "
        f"{h['C']['entry']} | {h['B']['total'] - h['A']['total']} | "
        f"{h['C']['total'] - h['A']['total']} | {' | '.join(added)} |")
  lines += [
      "",
      "Compiled-step memory analysis, bytes (A vs B; C for reference):",
      "",
      "| model | variant | argument | output | alias | temp |",
      "|---|---|---|---|---|---|",
  ]
  for name, r in results["models"].items():
    for k in ("A", "B", "C"):
      m = r["variants"][k]["memory"] or {}
      lines.append(
          f"| {name} | {k} | "
          + " | ".join(f"{m.get(f, 'n/a'):,}" if isinstance(m.get(f), int)
                       else "n/a" for f in (
                           "argument_size_in_bytes", "output_size_in_bytes",
                           "alias_size_in_bytes", "temp_size_in_bytes"))
          + " |")
  if "cbs_step_ratio" in results["models"].get("resnet18", {}):
    r = results["models"]["resnet18"]
    lines += [
        "",
        "CBS cost on ResNet-18 (plain optimizer, CBS model vs plain model, "
        f"same pairs): step-time ratio {_ratio(r['cbs_step_ratio'])}.",
    ]
  lines += [
      "",
      "Extra optimizer-state bytes vs depth count (MLP of width 16, "
      "abstract `jax.eval_shape`):",
      "",
      "| optimizer | depths | plain state bytes | B extra | C extra |",
      "|---|---|---|---|---|",
  ]
  for s in results["state_sweep"]:
    lines.append(f"| {s['optimizer']} | {s['num_depths']} | "
                 f"{s['plain_state_bytes']:,} | {s['extra_B']} | "
                 f"{s['extra_C']} |")
  lines.append("")
  torch_res = results.get("torch")
  if torch_res and "skipped" not in torch_res:
    lines += [
        f"D, PyTorch {torch_res['version']} ({torch_res['threads']} "
        f"thread{'' if torch_res['threads'] == 1 else 's'}): "
        "one param group per layer with `lr` set every step, against one "
        "group:",
        "",
        "| model | groups | per-layer / one-group step | one-group step ms |",
        "|---|---|---|---|",
    ]
    for name, r in torch_res["models"].items():
      lines.append(
          f"| {name} | {r['num_groups']} | {_ratio(r['step_ratio'])} | "
          f"{r['step_seconds_summary']['D_one_group']['median'] * 1e3:.2f} |")
  else:
    lines.append(f"D (PyTorch): skipped: "
                 f"{(torch_res or {}).get('skipped', 'not run')}.")
  return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Main.
# ---------------------------------------------------------------------------


def git_commit() -> str | None:
  try:
    return subprocess.check_output(
        ["git", "rev-parse", "HEAD"], cwd=os.path.dirname(__file__),
        text=True, stderr=subprocess.DEVNULL).strip()
  except (OSError, subprocess.CalledProcessError):
    return None


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--quick", action="store_true",
                 help="tiny models and few pairs (the CI smoke setting)")
  p.add_argument("--out", default=None,
                 help="results JSON (default: benchmarks/results/"
                 "overhead_<backend>[_quick].json)")
  p.add_argument("--models", default="mlp,resnet18,transformer",
                 help="comma-separated subset of mlp,resnet18,transformer")
  p.add_argument("--step-pairs", type=int, default=None,
                 help="interleaved step-time pairs (default 21; quick 3)")
  p.add_argument("--compile-pairs", type=int, default=None,
                 help="interleaved compile-time pairs (default 15; quick 1)")
  p.add_argument("--torch-pairs", type=int, default=None,
                 help="interleaved torch pairs (default 21; quick 3)")
  p.add_argument("--no-torch", action="store_true", help="skip variant D")
  p.add_argument("--torch-threads", type=int, default=1,
                 help="torch.set_num_threads for D (0: torch's default)")
  p.add_argument("--depth-sweep", action="store_true",
                 help="only the depth-count sweep (B vs A, compile and step "
                 "time for 10 to 3000 single-leaf depths); writes "
                 "results/depth_sweep_<backend>.json and .png")
  p.add_argument("--depths", default=None,
                 help="comma-separated depth counts for --depth-sweep")
  p.add_argument("--render", metavar="JSON", default=None,
                 help="print the README tables for a results file and exit")
  return p.parse_args(argv)


def main(argv=None) -> dict | None:
  args = parse_args(argv)
  if args.render:
    print(render(study_io.load_results(args.render, ("meta", "models"),
                                       missing_ok=False)), end="")
    return None
  if args.depth_sweep:
    return main_depth_sweep(args)
  settings = QUICK if args.quick else FULL
  names = [n for n in args.models.split(",") if n]
  for n in names:
    if n not in settings:
      raise SystemExit(f"unknown model {n!r}; choose from {list(settings)}")
  step_pairs = args.step_pairs or (3 if args.quick else 21)
  compile_pairs = args.compile_pairs or (1 if args.quick else 15)
  torch_pairs = args.torch_pairs or (3 if args.quick else 21)
  backend = jax.default_backend()
  out = args.out or os.path.join(
      os.path.dirname(os.path.abspath(__file__)), "results",
      f"overhead_{backend}{'_quick' if args.quick else ''}.json")
  command = "python benchmarks/overhead.py" + (
      " " + " ".join(sys.argv[1:] if argv is None else argv)
      if (sys.argv[1:] if argv is None else argv) else "")
  meta = dict(
      command=command, quick=args.quick,
      started_utc=datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
      backend=backend, device_kind=jax.devices()[0].device_kind,
      num_devices=jax.device_count(), cpu_count=os.cpu_count(),
      loadavg_start=loadavg(), python=platform.python_version(),
      platform=platform.platform(), jax=jax.__version__,
      jaxlib=getattr(jax.lib, "__version__", None) or getattr(
          __import__("jaxlib"), "__version__", None),
      optax=optax.__version__, flax=__import__("flax").__version__,
      lerac_jax=lerac_jax.__version__, git_commit=git_commit(),
      step_pairs=step_pairs, compile_pairs=compile_pairs,
      torch_pairs=torch_pairs, curriculum_steps=CURRICULUM_STEPS,
      min_scale=MIN_SCALE, targets=TARGETS)
  log(f"backend {backend}; models {names}; {step_pairs} step pairs, "
      f"{compile_pairs} compile pairs")
  t_start = time.perf_counter()
  results: dict[str, Any] = dict(meta=meta, models={})
  for n in names:
    results["models"][n] = bench_model(
        settings[n], step_pairs, compile_pairs, with_cbs=(n == "resnet18"))
  results["state_sweep"] = state_sweep((2, 8) if args.quick else
                                        STATE_SWEEP_LAYERS)
  if args.no_torch:
    results["torch"] = dict(skipped="--no-torch given")
  else:
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError:
      msg = ("torch is not installed; variant D needs a CPU build: "
             "pip install torch==2.13.0")
      log(f"D skipped: {msg}")
      results["torch"] = dict(skipped=msg)
    else:
      results["torch"] = dict(
          version=torch.__version__,
          threads=args.torch_threads or torch.get_num_threads(),
          models={n: bench_torch(settings[n], torch_pairs,
                                 threads=args.torch_threads) for n in names})
  meta["loadavg_end"] = loadavg()
  meta["wall_seconds"] = round(time.perf_counter() - t_start, 1)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, "w") as f:
    json.dump(results, f, indent=1)
    f.write("\n")
  log(f"wrote {out} ({meta['wall_seconds']} s)")
  print(render(results), end="")
  return results


def main_depth_sweep(args) -> dict:
  backend = jax.default_backend()
  counts = (tuple(int(x) for x in args.depths.split(",")) if args.depths
            else DEPTH_SWEEP)
  compile_pairs = args.compile_pairs or 3
  step_pairs = args.step_pairs or 11
  out = args.out or os.path.join(
      os.path.dirname(os.path.abspath(__file__)), "results",
      f"depth_sweep_{backend}.json")
  argv = sys.argv[1:]
  meta = dict(
      command="python benchmarks/overhead.py " + " ".join(argv),
      started_utc=datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
      backend=backend, cpu_count=os.cpu_count(), loadavg_start=loadavg(),
      jax=jax.__version__, optax=optax.__version__, git_commit=git_commit(),
      compile_pairs=compile_pairs, step_pairs=step_pairs,
      pick_chunk=getattr(__import__("lerac_jax.transform").transform,
                         "PICK_CHUNK", None))
  t_start = time.perf_counter()
  rows = depth_sweep(counts, compile_pairs, step_pairs)
  meta["loadavg_end"] = loadavg()
  meta["wall_seconds"] = round(time.perf_counter() - t_start, 1)
  results = dict(meta=meta, depth_sweep=rows)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, "w") as f:
    json.dump(results, f, indent=1)
    f.write("\n")
  plot_depth_sweep(rows, os.path.splitext(out)[0] + ".png")
  log(f"wrote {out} ({meta['wall_seconds']} s)")
  print(render_depth_sweep(rows), end="")
  return results


if __name__ == "__main__":
  main()

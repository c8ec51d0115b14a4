# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Shared pieces of the scale-out tests: a model, data and a reference run.

The sharding, pmap, multi-process and checkpoint tests all train the same small
linen MLP on the same fixed batches, so that every distributed run can be
compared with one single-device reference. Nothing here touches devices at
import time: the 8-device children import it after setting ``XLA_FLAGS``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import lerac_jax

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FEATURES = 16
CLASSES = 8
WIDTH = 32
BATCH = 32
STEPS = 20
# k = 10 of the 20 steps: half the run is curriculum, half is after it.
LERAC_KW = dict(curriculum_steps=10, min_scale=1e-3)


class MLP(nn.Module):
  """Three dense layers; every dimension divides by 8 devices."""

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Dense(WIDTH, name="stem")(x))
    x = nn.relu(nn.Dense(WIDTH, name="mid")(x))
    return nn.Dense(CLASSES, name="head")(x)


def sample_input() -> jax.ShapeDtypeStruct:
  return jax.ShapeDtypeStruct((1, FEATURES), jnp.float32)


def depths() -> lerac_jax.Depths:
  return lerac_jax.depths_from_model(MLP(), sample_input())


def make_tx(optimizer: str = "sgd") -> optax.GradientTransformation:
  """The optimizer every scale-out test uses: a base optimizer plus lerac."""
  base = {
      "sgd": lambda: optax.sgd(0.1, momentum=0.9),
      "adamw": lambda: optax.adamw(1e-2, weight_decay=1e-4),
  }[optimizer]()
  return lerac_jax.lerac(base, depths(), **LERAC_KW)


def init_params(seed: int = 0) -> Any:
  x = jnp.zeros((1, FEATURES), jnp.float32)
  return MLP().init(jax.random.key(seed), x)["params"]


def batches(steps: int = STEPS, batch: int = BATCH, seed: int = 0):
  """Fixed float32 inputs and int32 labels, shaped ``(steps, batch, ...)``."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(steps, batch, FEATURES)).astype(np.float32)
  w = rng.normal(size=(FEATURES, CLASSES)).astype(np.float32)
  y = np.argmax(x @ w, axis=-1).astype(np.int32)
  return x, y


def loss_fn(params, x, y):
  logits = MLP().apply({"params": params}, x)
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def train_step(tx):
  """The plain step: grads, tx.update, apply_updates (jit it as you need)."""

  def step(params, opt_state, x, y):
    grads = jax.grad(loss_fn)(params, x, y)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  return step


def reference_run(steps: int = STEPS, optimizer: str = "sgd", params=None):
  """Single-device training: the result every distributed run must match."""
  tx = make_tx(optimizer)
  params = init_params() if params is None else params
  opt_state = tx.init(params)
  step = jax.jit(train_step(tx))
  x, y = batches(steps)
  for t in range(steps):
    params, opt_state = step(params, opt_state, x[t], y[t])
  return params, opt_state


def to_numpy(tree):
  return jax.tree.map(np.asarray, tree)


def flat_dict(tree) -> dict[str, np.ndarray]:
  """``{'/'-joined path: array}`` for ``np.savez``."""
  return {
      lerac_jax.depths.path_to_str(p): np.asarray(v)
      for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]
  }


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def child_env(num_cpu_devices: int | None = None, **extra: str) -> dict:
  """Environment for a child Python: this worktree first, N CPU devices."""
  env = dict(os.environ)
  env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
  env["JAX_PLATFORMS"] = "cpu"
  flags = [f for f in env.get("XLA_FLAGS", "").split()
           if "xla_force_host_platform_device_count" not in f]
  if num_cpu_devices is not None:
    flags.append(f"--xla_force_host_platform_device_count={num_cpu_devices}")
  env["XLA_FLAGS"] = " ".join(flags)
  env.update(extra)
  return env


def run_pytest_in_child(path: str, num_cpu_devices: int, timeout: float = 300):
  """Runs one pytest module in a fresh process with N CPU devices.

  XLA reads the device count once, when the backend starts, so a module that
  needs 8 devices cannot run in the parent pytest process.

  Returns:
    The completed process (stdout and stderr merged into stdout).
  """
  cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-o", "addopts=--import-mode=importlib -ra", path]
  return subprocess.run(
      cmd, cwd=REPO_ROOT, env=child_env(num_cpu_devices),
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
      timeout=timeout, check=False)


def check_child_passed(proc, min_passed: int) -> None:
  """Asserts a child pytest run passed at least ``min_passed`` cases.

  A case skipped in the child would mean it never saw its devices, so a skip
  fails the parent test too. Strict ``xfail`` cases (known library
  limitations) are allowed.
  """
  out = proc.stdout
  summary = out.strip().splitlines()[-1] if out.strip() else ""
  assert proc.returncode == 0, out[-8000:]
  passed = re.search(r"(\d+) passed", summary)
  assert passed and int(passed.group(1)) >= min_passed, out[-8000:]
  assert not re.search(r"\d+ (skipped|failed|errors?)\b", summary), (
      out[-8000:])

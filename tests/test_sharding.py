# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Sharded training with jit and NamedSharding on 8 CPU devices.

The cases live in ``sharding_cases.py``; this module runs them in a child
process started with ``XLA_FLAGS=--xla_force_host_platform_device_count=8``,
because the parent pytest process has already started XLA with one device.
The cases cover:

* a data-parallel x FSDP mesh (2 x 4) training the same MLP as a single
  device, params equal after 20 steps to 1e-5 (SGD and AdamW);
* a replicated ``LeracState.count`` and updates that keep each parameter's
  sharding (``.sharding``, and ``jax.typeof`` under explicit axes as in
  optax's own sharding tests, eager and jit, f32/bf16/f16, a stacked leaf);
* abstract init from sharded ``ShapeDtypeStruct`` params;
* flax logical partitioning in the lm1b flow (``nn.get_partition_spec`` gives
  the lerac count ``P()``), trained with ``TrainState`` to the same params,
  and with ``nn.scan``-stacked layers (per-slice multipliers on a sharded
  stacked kernel);
* ``jax.shard_map`` updates with sharded non-layer axes, and with a stacked
  leaf whose layer axis is sharded (``layer_axis_name=``; without it, a
  clear error);
* NNX Variables with sharding metadata (``nnx.with_partitioning``) and
  ``nnx.Optimizer``: the count's spec is ``P()``, moments follow their
  parameter, and the result equals the single-device run.
"""

import os

from tests import scale_helpers as h

CASES = os.path.join(os.path.dirname(__file__), "sharding_cases.py")


def test_sharding_cases_on_8_cpu_devices():
  proc = h.run_pytest_in_child(CASES, num_cpu_devices=8)
  print(proc.stdout)
  h.check_child_passed(proc, min_passed=17)

# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""``jax.pmap`` data parallelism over 8 CPU replicas.

The cases live in ``pmap_cases.py`` and run in a child process started with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``. They check that, with
``lax.pmean`` gradients and a replicated optimizer state, the curriculum
multipliers are identical on every replica (read back with
``lerac_jax.current_scales`` on the replicated state, and all-gathered from
inside ``pmap``) and the params equal the single-device run to 1e-5.
"""

import os

from tests import scale_helpers as h

CASES = os.path.join(os.path.dirname(__file__), "pmap_cases.py")


def test_pmap_cases_on_8_cpu_devices():
  proc = h.run_pytest_in_child(CASES, num_cpu_devices=8)
  print(proc.stdout)
  h.check_child_passed(proc, min_passed=3)

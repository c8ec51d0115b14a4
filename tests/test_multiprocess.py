# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Two real OS processes on localhost train one sharded model with lerac.

Each process runs ``multiprocess_worker.py``: ``jax.distributed.initialize``
with a coordinator on 127.0.0.1, gloo CPU collectives, 4 CPU devices per
process, one (2, 4) mesh over all 8 devices whose axes both cross the process
boundary. Both processes must end with bitwise-identical params, equal to the
single-process run to 1e-5, and a finished curriculum.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from tests import scale_helpers as h

WORKER = os.path.join(os.path.dirname(__file__), "multiprocess_worker.py")
NUM_PROCESSES = 2
LOCAL_DEVICES = 4
TIMEOUT_S = 240


def launch(tmp_path):
  port = h.free_port()
  env = h.child_env(num_cpu_devices=LOCAL_DEVICES)
  procs, outs = [], []
  for i in range(NUM_PROCESSES):
    out = tmp_path / f"params_{i}.npz"
    # The logs stay open for the process lifetimes; closed in `finally`.
    log = open(tmp_path / f"log_{i}.txt", "w")  # pylint: disable=R1732
    procs.append((subprocess.Popen(
        [sys.executable, WORKER, str(i), str(NUM_PROCESSES), str(port),
         str(out)],
        cwd=h.REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    outs.append(out)
  codes = []
  try:
    for p, _ in procs:
      codes.append(p.wait(timeout=TIMEOUT_S))
  except subprocess.TimeoutExpired:
    pass
  finally:
    for p, log in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
      log.close()
  logs = [(tmp_path / f"log_{i}.txt").read_text()
          for i in range(NUM_PROCESSES)]
  return codes, outs, logs


def test_two_processes_match_each_other_and_single_process(tmp_path):
  codes, outs, logs = launch(tmp_path)
  report = "\n".join(f"--- process {i} ---\n{log[-4000:]}"
                     for i, log in enumerate(logs))
  if codes != [0] * NUM_PROCESSES:
    pytest.fail(f"workers exited with {codes} (timeout {TIMEOUT_S}s):\n"
                f"{report}")
  results = [dict(np.load(o)) for o in outs]
  for i, log in enumerate(logs):
    assert f"process {i}/{NUM_PROCESSES}: 8 devices, 4 local" in log, report
  ref_params, _ = h.reference_run()
  ref = h.flat_dict(ref_params)
  a, b = results
  assert int(a.pop("__count__")) == int(b.pop("__count__")) == h.STEPS
  scales_a, scales_b = a.pop("__scales__"), b.pop("__scales__")
  np.testing.assert_array_equal(scales_a, scales_b)
  np.testing.assert_array_equal(scales_a, 1.0)  # 20 steps > k = 10
  assert sorted(a) == sorted(b) == sorted(ref)
  for path in ref:
    np.testing.assert_array_equal(a[path], b[path], err_msg=path)
    np.testing.assert_allclose(a[path], ref[path], atol=1e-5, rtol=1e-5,
                               err_msg=path)
    assert not np.allclose(a[path], h.flat_dict(h.init_params())[path])

# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Resumes training from an orbax checkpoint in a fresh process.

Usage::

  python tests/checkpoint_worker.py TOTAL_STEPS \
      OPTIMIZER CHECKPOINT_DIR OUT.npz [OPTIMIZER CHECKPOINT_DIR OUT.npz ...]

Used by ``test_checkpoint.py``: nothing of the run that wrote the checkpoint
survives here except the checkpoint itself. The train state is rebuilt
abstractly (``jax.eval_shape``), restored into that structure, and trained on
to ``TOTAL_STEPS``; the final params and the lerac count go to ``OUT.npz``.
Several checkpoints may be resumed in one process, one after the other.
"""

from __future__ import annotations

import functools
import sys


def main(argv):
  total_steps = int(argv[1])
  jobs = argv[2:]
  assert jobs and len(jobs) % 3 == 0, argv

  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  from tests import test_checkpoint as c  # pylint: disable=g-import-not-at-top
  from tests import scale_helpers as h  # pylint: disable=g-import-not-at-top

  for i in range(0, len(jobs), 3):
    optimizer, ckpt_dir, out_path = jobs[i:i + 3]
    abstract = jax.eval_shape(functools.partial(c.create_state, optimizer))
    with ocp.StandardCheckpointer() as ckptr:
      state = ckptr.restore(ckpt_dir, abstract)
    start = int(state.step)
    step = jax.jit(c.train_step)
    x, y = h.batches(total_steps)
    for t in range(start, total_steps):
      state = step(state, x[t], y[t])
    np.savez(out_path, __count__=np.asarray(state.opt_state[1].count),
             __start__=np.asarray(start), **h.flat_dict(state.params))


if __name__ == "__main__":
  main(sys.argv)

# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Resumes training from an orbax checkpoint in a fresh process.

Usage::

  python tests/checkpoint_worker.py OPTIMIZER CHECKPOINT_DIR TOTAL_STEPS OUT.npz

Used by ``test_checkpoint.py``: nothing of the run that wrote the checkpoint
survives here except the checkpoint itself. The train state is rebuilt
abstractly (``jax.eval_shape``), restored into that structure, and trained on
to ``TOTAL_STEPS``; the final params and the lerac count go to ``OUT.npz``.
"""

from __future__ import annotations

import sys


def main(argv):
  optimizer, ckpt_dir, total_steps, out_path = argv[1:5]
  total_steps = int(total_steps)

  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  from tests import test_checkpoint as c  # pylint: disable=g-import-not-at-top
  from tests import scale_helpers as h  # pylint: disable=g-import-not-at-top

  abstract = jax.eval_shape(lambda: c.create_state(optimizer))
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

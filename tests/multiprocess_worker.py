# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""One process of the multi-process test (``test_multiprocess.py``).

Usage::

  python tests/multiprocess_worker.py PROCESS_ID NUM_PROCESSES PORT OUT.npz

Each process joins ``jax.distributed`` through a coordinator on 127.0.0.1,
sees its own CPU devices (``XLA_FLAGS`` set by the parent), and trains the
shared MLP of ``scale_helpers`` with ``lerac`` on a mesh whose two axes both
span every process: each parameter and each batch is split across processes,
so every step needs cross-process (gloo) collectives. It then gathers the
params and writes them, the lerac count and the multipliers to ``OUT.npz``.

On a TPU pod or a GPU cluster the same code runs with
``jax.distributed.initialize()`` and no arguments (see docs/scaling.md).
"""

from __future__ import annotations

import sys


def main(argv):
  process_id, num_processes, port = map(int, argv[1:4])
  out_path = argv[4]

  import jax  # pylint: disable=g-import-not-at-top

  # gloo is the CPU collectives backend; set it explicitly in case a newer
  # JAX changes the default.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(
      coordinator_address=f"127.0.0.1:{port}",
      num_processes=num_processes,
      process_id=process_id,
      initialization_timeout=60,
  )

  # Imported after initialize(), which must come before any device use.
  # pylint: disable=g-import-not-at-top
  from jax.experimental import multihost_utils
  from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
  import numpy as np
  import optax

  import lerac_jax
  from tests import scale_helpers as h
  # pylint: enable=g-import-not-at-top

  devices = np.array(jax.devices())  # sorted by process
  n = len(devices)
  assert jax.process_count() == num_processes, jax.process_count()
  assert n == num_processes * jax.local_device_count()
  # Mesh ('data', 'fsdp') of shape (2, n/2), built column-wise so that each
  # row mixes devices of all processes: both axes cross process boundaries.
  mesh = Mesh(devices.reshape(n // 2, 2).T, ("data", "fsdp"))
  for row in mesh.devices:
    assert len({d.process_index for d in row}) == num_processes

  tx = h.make_tx("sgd")
  host_params = h.to_numpy(h.init_params())  # identical on every process

  def put(x, sharding):
    return jax.make_array_from_callback(x.shape, sharding, lambda i: x[i])

  def fsdp(p):
    return NamedSharding(mesh, P("fsdp", *([None] * (p.ndim - 1))))

  p_sh = jax.tree.map(fsdp, host_params)
  params = jax.tree.map(put, host_params, p_sh)
  abstract = jax.eval_shape(tx.init, host_params)
  s_sh = optax.tree.map_params(
      tx, lambda _, s: s, abstract, p_sh,
      transform_non_params=lambda _: NamedSharding(mesh, P()))
  b_sh = NamedSharding(mesh, P(("data", "fsdp")))
  opt_state = jax.jit(tx.init, out_shardings=s_sh)(params)
  step = jax.jit(h.train_step(tx), in_shardings=(p_sh, s_sh, b_sh, b_sh),
                 out_shardings=(p_sh, s_sh))
  x, y = h.batches()
  for t in range(h.STEPS):
    params, opt_state = step(params, opt_state, put(x[t], b_sh),
                             put(y[t], b_sh))

  assert not all(p.is_fully_addressable for p in jax.tree.leaves(params))
  gathered = multihost_utils.process_allgather(params, tiled=True)
  count = opt_state[1].count
  assert count.sharding.is_fully_replicated
  assert not count.is_fully_addressable  # a global array over 2 processes
  # Logging straight from the global state works on every process.
  scales = np.asarray(lerac_jax.current_scales(opt_state))
  count = np.asarray(count.addressable_data(0))  # this process's replica
  np.savez(out_path, __count__=np.asarray(count),
           __scales__=np.asarray(scales), **h.flat_dict(gathered))
  print(f"process {process_id}/{num_processes}: {n} devices, "
        f"{jax.local_device_count()} local, count {int(count)}", flush=True)
  jax.distributed.shutdown()


if __name__ == "__main__":
  main(sys.argv)

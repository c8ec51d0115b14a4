# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Small Fashion-MNIST-shaped IDX files for the data tests."""

import gzip
import os
import struct

import numpy as np

from examples import input_pipeline as ip


def write_idx(path, array, count=None):
  """A gzipped IDX file; ``count`` overrides the header's first dimension."""
  shape = (count if count is not None else array.shape[0],) + array.shape[1:]
  header = struct.pack('>BBBB', 0, 0, 8, array.ndim)
  header += struct.pack('>' + 'I' * array.ndim, *shape)
  with gzip.open(path, 'wb') as f:
    f.write(header + array.astype(np.uint8).tobytes())


def fake_fashion_dir(root, n_train=30, n_test=10):
  """The four Fashion-MNIST files with random images, in ``root``."""
  rng = np.random.default_rng(0)
  os.makedirs(root, exist_ok=True)
  for split, n in (('train', n_train), ('test', n_test)):
    images, labels = ip.FASHION_MNIST_FILES[split]
    write_idx(os.path.join(root, images), rng.integers(0, 256, (n, 28, 28)))
    write_idx(os.path.join(root, labels), np.arange(n) % 10)
  return str(root)

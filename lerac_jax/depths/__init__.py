# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Which depth each parameter has: from the dataflow graph, by rules, by hand.

* :mod:`~lerac_jax.depths.types`: paths, :class:`Depths`, :class:`Stacked`,
  :func:`as_depths`;
* :mod:`~lerac_jax.depths.matching`: a :class:`Depths` against a tree;
* :mod:`~lerac_jax.depths.rules`: :func:`depths_from_rules`;
* :mod:`~lerac_jax.depths.primitives`: what the walk knows of each JAX
  primitive, one rule per primitive;
* :mod:`~lerac_jax.depths.dataflow`: :func:`depths_from_fn`, the jaxpr walk;
* :mod:`~lerac_jax.depths.grouping`: levels to ranks, by layer or block;
* :mod:`~lerac_jax.depths.models`: :func:`depths_from_model` for Flax linen,
  Flax NNX and Equinox;
* :mod:`~lerac_jax.depths.describe`: :func:`describe`.
"""

from lerac_jax.depths.dataflow import depths_from_fn
from lerac_jax.depths.describe import describe
from lerac_jax.depths.matching import match
from lerac_jax.depths.models import depths_from_model
from lerac_jax.depths.rules import depths_from_rules
from lerac_jax.depths.types import as_depths
from lerac_jax.depths.types import DepthValue
from lerac_jax.depths.types import Depths
from lerac_jax.depths.types import flatten_with_names
from lerac_jax.depths.types import is_masked_node
from lerac_jax.depths.types import path_to_str
from lerac_jax.depths.types import Stacked

__all__ = (
    "DepthValue",
    "Depths",
    "Stacked",
    "as_depths",
    "depths_from_fn",
    "depths_from_model",
    "depths_from_rules",
    "describe",
    "flatten_with_names",
    "is_masked_node",
    "match",
    "path_to_str",
)

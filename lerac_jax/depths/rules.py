# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Depths from an ordered list of ``(regex, depth)`` rules over paths."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

from lerac_jax.depths import matching
from lerac_jax.depths import types

PyTree = Any
Rule = tuple[str, Union[int, float, Callable[..., Any]]]


def _compile(rules: Any) -> list[tuple[re.Pattern, Any]]:
  if isinstance(rules, Mapping):
    raise TypeError(
        "rules must be an ordered sequence of (pattern, depth) pairs, not a "
        "dict: the first matching rule wins, so their order matters. Write "
        "list(rules.items()) if the dict's order is the one you mean.")
  if isinstance(rules, (str, bytes)) or not isinstance(rules, Sequence):
    raise TypeError(
        "rules must be a sequence of (pattern, depth) pairs; got "
        f"{type(rules).__name__}.")
  compiled = []
  for i, rule in enumerate(rules):
    if not (isinstance(rule, Sequence) and len(rule) == 2
            and isinstance(rule[0], str)):
      raise TypeError(
          f"Rule {i} must be a (pattern string, depth) pair; got {rule!r}.")
    pattern, depth = rule
    try:
      compiled.append((re.compile(pattern), depth))
    except re.error as e:
      raise ValueError(
          f"Rule {i} has an invalid regular expression {pattern!r}: {e}."
      ) from None
  return compiled


def depths_from_rules(
    params: PyTree,
    rules: Sequence[Rule],
    *,
    default: Any = None,
) -> types.Depths:
  r"""Depths from an ordered list of ``(regex, depth)`` rules over paths.

  Each parameter's canonical path (``'Block_3/Conv_0/kernel'``) is tested
  against the rules in order with ``re.search``; the first match wins. The
  depth may be

  * a number: that depth;
  * a callable, called with the match's groups converted to numbers where they
    look like numbers, returning a number or a tuple;
  * for a pattern with capture groups and a number ``g``, the key
    ``(g, *numeric captures)``: so ``(r'Block_(\d+)', 1)`` orders
    ``Block_2`` before ``Block_10``, after group 0 and before group 2.

  Keys are sorted and re-numbered densely, as timm's ``group_matcher`` does.

  Args:
    params: the parameter tree (arrays or ``jax.ShapeDtypeStruct``).
    rules: ordered ``(pattern, depth)`` pairs (a list, not a dict).
    default: depth for parameters no rule matches. None (the default) makes
      unmatched parameters an error.

  Returns:
    A :class:`Depths`.

  Raises:
    TypeError: if ``rules`` is a dict or not a sequence of pairs.
    ValueError: naming the parameters no rule matches, a rule that matches
      no parameter (a typo; with ``default=`` this is a warning), or an
      invalid regular expression.

  Example:
    >>> import jax.numpy as jnp, lerac_jax
    >>> params = {'stem': {'kernel': jnp.ones(1)},
    ...           'Block_10': {'kernel': jnp.ones(1)},
    ...           'Block_2': {'kernel': jnp.ones(1)},
    ...           'head': {'kernel': jnp.ones(1)}}
    >>> d = lerac_jax.depths_from_rules(
    ...     params, [(r'^stem', 0), (r'^Block_(\d+)', 1), (r'^head', 2)])
    >>> [d.table[p] for p in ('stem/kernel', 'Block_2/kernel',
    ...                       'Block_10/kernel', 'head/kernel')]
    [0, 1, 2, 3]
  """
  compiled = _compile(rules)
  keys: dict[str, tuple] = {}
  unmatched = []
  named = [(p, leaf) for p, leaf in types.flatten_with_names(params)
           if not types.is_masked_node(leaf)]
  for path, _ in named:
    for pattern, depth in compiled:
      m = pattern.search(path)
      if m is None:
        continue
      groups = tuple(_to_number(g) for g in m.groups())
      if callable(depth):
        value = depth(*groups)
        keys[path] = value if isinstance(value, tuple) else (value,)
      else:
        numeric = tuple(g for g in groups if isinstance(g, (int, float)))
        keys[path] = (depth,) + numeric
      break
    else:
      if default is None:
        unmatched.append(path)
      else:
        keys[path] = (default,)
  if unmatched:
    raise ValueError(
        f"{len(unmatched)} parameter(s) match no depth rule: "
        f"{matching.summarise(unmatched)}. Add a rule for them or pass "
        "default=."
    )
  # A rule that matches no path at all is a typo; one shadowed by an earlier
  # rule (a catch-all at the end) is not.
  unused = [pattern.pattern for pattern, _ in compiled
            if not any(pattern.search(p) for p, _ in named)]
  if unused:
    message = (
        f"{len(unused)} depth rule(s) match no parameter path: "
        f"{matching.summarise(unused)} (a typo?). Parameter paths look like "
        f"{matching.summarise([p for p, _ in named][:3])}.")
    if default is None:
      raise ValueError(message)
    warnings.warn(message + " Their parameters get default=.", stacklevel=2)
  width = max(len(k) for k in keys.values()) if keys else 0
  # Pad so that (1,) sorts before (1, 0): a group's plain entry comes first.
  padded = {p: k + (-float("inf"),) * (width - len(k)) for p, k in keys.items()}
  order = {k: i for i, k in enumerate(sorted(set(padded.values())))}
  return types.dense_ranks({p: order[k] for p, k in padded.items()})


def _to_number(text: str | None) -> Any:
  if text is None:
    return None
  try:
    return int(text)
  except ValueError:
    try:
      return float(text)
    except ValueError:
      return text

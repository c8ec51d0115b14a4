# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Sphinx configuration of the API reference, built from the docstrings.

Build: ``sphinx-build -W -b html docs/api docs/api/_build`` (``-W``: any
warning, e.g. a broken docstring, fails the build).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(__file__, '..', '..', '..')))

import lerac_jax  # pylint: disable=g-import-not-at-top,wrong-import-position

project = 'lerac_jax'
release = lerac_jax.__version__
extensions = ['sphinx.ext.autodoc', 'sphinx.ext.napoleon']
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # NamedTuple fields are also autodoc members: no duplicates
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
exclude_patterns = ['_build']
html_theme = 'alabaster'


def _write_api_page(app):
  """Writes ``api.rst`` from ``lerac_jax.__all__``: new names appear alone."""
  lines = ['API reference', '=============', '',
           '']
  for name in lerac_jax.__all__:
    obj = getattr(lerac_jax, name)
    lines += [name, '-' * len(name), '']
    if isinstance(obj, type(sys)):  # a submodule: document its members
      lines += [f'.. automodule:: lerac_jax.{name}', '   :members:', '']
    elif isinstance(obj, type):
      lines += [f'.. autoclass:: lerac_jax.{name}', '   :members:', '']
    else:
      lines += [f'.. autofunction:: lerac_jax.{name}', '']
  path = os.path.join(app.srcdir, 'api.rst')
  text = '\n'.join(lines)
  if not os.path.exists(path) or open(path).read() != text:
    with open(path, 'w') as f:
      f.write(text)


def setup(app):
  app.connect('builder-inited', _write_api_page)

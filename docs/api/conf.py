# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Sphinx configuration of the guides and the API reference.

Build: ``sphinx-build -W -b html docs/api docs/api/_build`` (``-W``: any
warning, e.g. a broken docstring, fails the build). The guides
(``docs/guides``, linked here as ``guides``) are MyST notebooks that myst-nb
executes on every build, offline; a cell that raises fails the build.
"""

import os
import sys

ROOT = os.path.abspath(os.path.join(__file__, '..', '..', '..'))
sys.path.insert(0, ROOT)
# The notebooks' kernels import this checkout too, not an installed copy.
os.environ['PYTHONPATH'] = os.pathsep.join(
    [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p])

import lerac_jax  # pylint: disable=g-import-not-at-top,wrong-import-position

project = 'lerac_jax'
release = lerac_jax.__version__
extensions = ['sphinx.ext.autodoc', 'sphinx.ext.napoleon', 'myst_nb']
nb_execution_mode = 'force'  # every build runs every cell
nb_execution_raise_on_error = True
nb_execution_timeout = 300  # seconds per cell
nb_execution_show_tb = True  # the traceback in the log when a cell fails
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # NamedTuple fields are also autodoc members: no duplicates
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
exclude_patterns = ['_build', 'jupyter_execute']
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

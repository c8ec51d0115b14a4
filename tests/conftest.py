# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Shared pytest set-up."""

import tempfile

import pytest


@pytest.fixture(autouse=True, scope='session')
def temp_files_under_pytest(tmp_path_factory):
  """Sends ``tempfile``'s folders into pytest's own temporary folder.

  ``tfds.builder`` makes a ``tmp*tfds`` folder in the system temp folder for
  every dataset it looks up and never removes it; pytest prunes its own.
  """
  saved = tempfile.tempdir
  tempfile.tempdir = str(tmp_path_factory.mktemp('tempfile'))
  yield
  tempfile.tempdir = saved

# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Offline datasets as in-memory numpy arrays, and a deterministic batcher.

Sources, all read without network access unless ``download=True``:

* ``digits``: scikit-learn's 1797 real 8x8 handwritten digits (the default;
  ships inside the scikit-learn wheel).
* ``fashion_mnist``: real Fashion-MNIST from local IDX ``.gz`` files, read
  from ``data_dir`` when one is given (and nowhere else), otherwise looked up
  in ``$FASHION_MNIST_DIR``, then ``/usr/share/datasets/fashion-mnist``
  (Debian ``dataset-fashion-mnist``). Each file must match its IDX header,
  and images and labels must agree in count.
* ``pydoc_text``: the English help text shipped with CPython
  (``pydoc_data.topics``), for a character-level language model.
* any other name: a TFDS dataset prepared in ``data_dir``. Data prepared as
  array_record is read with ``tfds.data_source`` (no TensorFlow); data
  prepared as tfrecord with ``tfds.load`` when TensorFlow is installed.

Every dataset gets a validation split held out from train with a fixed
permutation (seed 0), independent of the training seed, so all regimes and
seeds see the same train/validation/test examples. Model selection uses the
validation split only.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import struct
import zlib
from collections.abc import Iterator, Sequence

import numpy as np

FASHION_MNIST_ENV = 'FASHION_MNIST_DIR'
FASHION_MNIST_SYSTEM_DIR = '/usr/share/datasets/fashion-mnist'
FASHION_MNIST_FILES = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}
# Split seed: fixed so that the validation split never depends on the run.
SPLIT_SEED = 0


class DataNotFoundError(FileNotFoundError):
  """Raised when a dataset is not available locally."""


class DataFileError(ValueError):
  """Raised when a data file is damaged or does not match its partner."""


def take_first(split: tuple[np.ndarray, np.ndarray], n: int | None,
               name: str = 'max_train_examples'
               ) -> tuple[np.ndarray, np.ndarray]:
  """The first ``n`` examples of a split (None or 0: all of them).

  Example:
    >>> x = np.arange(5)
    >>> take_first((x, x), 2)[0].tolist(), len(take_first((x, x), 0)[0])
    ([0, 1], 5)
  """
  if n is None or n == 0:
    return split
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
    raise ValueError(f'{name}={n!r}: must be an integer >= 0 (0: all), '
                     f'e.g. {name}=5000')
  return split[0][:n], split[1][:n]


@dataclasses.dataclass
class Dataset:
  """Three in-memory splits of (inputs, targets).

  Attributes:
    name: dataset name.
    task: ``'classification'`` (targets are class ids) or ``'lm'`` (inputs
      and targets are (N, T) character ids, targets shifted by one).
    train: (inputs, targets) numpy arrays.
    validation: held out from the original training split.
    test: the dataset's own test split.
    num_classes: number of classes, or the vocabulary size for ``'lm'``.
    vocab: the characters of a ``'lm'`` vocabulary, in id order.
  """
  name: str
  task: str
  train: tuple[np.ndarray, np.ndarray]
  validation: tuple[np.ndarray, np.ndarray]
  test: tuple[np.ndarray, np.ndarray]
  num_classes: int
  vocab: str | None = None

  @property
  def input_shape(self) -> tuple[int, ...]:
    return tuple(self.train[0].shape[1:])

  def summary(self) -> str:
    n = [len(s[0]) for s in (self.train, self.validation, self.test)]
    return (f'{self.name}: train/val/test = {n[0]}/{n[1]}/{n[2]}, input '
            f'{self.input_shape}, {self.num_classes} classes')


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float,
                     seed: int = SPLIT_SEED):
  """Deterministically holds out ``fraction`` of (x, y) as validation.

  Args:
    x: inputs.
    y: targets.
    fraction: share of examples to hold out, in [0, 1).
    seed: permutation seed; fixed by default so splits never vary by run.

  Returns:
    ((x_train, y_train), (x_val, y_val)).

  Example:
    >>> x, y = np.arange(10), np.arange(10)
    >>> (xt, _), (xv, _) = split_validation(x, y, 0.2)
    >>> len(xt), len(xv), sorted(set(xt) | set(xv)) == list(range(10))
    (8, 2, True)
  """
  if not 0 <= fraction < 1:
    raise ValueError(f'validation fraction must be in [0, 1); got {fraction}')
  n_val = int(round(len(x) * fraction))
  if fraction > 0:
    n_val = min(max(n_val, 1), len(x) - 1)
  perm = np.random.default_rng(seed).permutation(len(x))
  val, train = perm[:n_val], perm[n_val:]
  return (x[train], y[train]), (x[val], y[val])


def _normalise_images(images: np.ndarray, max_value: float) -> np.ndarray:
  # CBS and the official LeRaC code use Normalize(0.5, 0.5): [-1, 1].
  x = images.astype(np.float32) / max_value
  if x.ndim == 3:
    x = x[..., None]
  return (x - 0.5) / 0.5


# ----------------------------------------------------------------- digits


def load_digits(validation_fraction: float = 0.1,
                test_fraction: float = 0.2,
                max_train_examples: int | None = None) -> Dataset:
  """scikit-learn's handwritten digits (8x8, values 0..16), embedded.

  The 1797 images have no official test split, so ``test_fraction`` of them
  is held out as test (seed 0), then ``validation_fraction`` of the rest.

  Args:
    validation_fraction: share of the non-test examples held out.
    test_fraction: share of all examples used as test.
    max_train_examples: keep only this many training examples (after the
      test and validation splits, so those do not change).

  Returns:
    A :class:`Dataset` with (N, 8, 8, 1) float32 inputs in [-1, 1].
  """
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  d = datasets.load_digits()
  x = _normalise_images(d.images, 16.0)
  y = d.target.astype(np.int32)
  rest, test = split_validation(x, y, test_fraction, seed=SPLIT_SEED + 1)
  train, val = split_validation(*rest, validation_fraction)
  train = take_first(train, max_train_examples)
  return Dataset('digits', 'classification', train, val, test, 10)


# ---------------------------------------------------------- fashion_mnist


def read_idx(path: str) -> np.ndarray:
  """Reads a (gzipped) IDX file of unsigned bytes into a numpy array.

  The data must fill the shape its header gives, exactly.

  Raises:
    DataFileError: naming the file: not an unsigned-byte IDX file, a
      damaged or truncated gzip stream, or data that is shorter or longer
      than the header says.
  """
  opener = gzip.open if path.endswith('.gz') else open
  try:
    with opener(path, 'rb') as f:
      data = f.read()
  except (EOFError, gzip.BadGzipFile, zlib.error) as e:
    raise DataFileError(
        f'{path} is damaged ({type(e).__name__}: {e}); a truncated or '
        'interrupted download? Download it again.') from None
  if len(data) < 4 or data[:2] != b'\x00\x00' or data[2] != 0x08:
    raise DataFileError(f'{path} is not an unsigned-byte IDX file (its first '
                        f'bytes are {data[:4]!r}, not 00 00 08 <ndim>).')
  ndim = data[3]
  offset = 4 + 4 * ndim
  if len(data) < offset:
    raise DataFileError(f'{path}: the IDX header is cut short ({len(data)} '
                        f'bytes for a {ndim}-dimensional header).')
  dims = struct.unpack('>' + 'I' * ndim, data[4:offset])
  if len(data) - offset != math.prod(dims):
    raise DataFileError(
        f'{path}: the header gives shape {dims} ({math.prod(dims)} bytes of '
        f'data) but the file holds {len(data) - offset}; it is truncated or '
        'not the file its name says. Download it again.')
  return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def read_idx_pair(images_path: str, labels_path: str,
                  num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
  """Images (N, H, W) and labels (N,) from two IDX files that belong together.

  Raises:
    DataFileError: naming the files: either is damaged (see
      :func:`read_idx`), has the wrong number of dimensions, labels outside
      ``[0, num_classes)``, or the two disagree in count (e.g. test images
      copied over the train images: each image would get another's label).
  """
  images, labels = read_idx(images_path), read_idx(labels_path)
  if images.ndim != 3:
    raise DataFileError(f'{images_path}: expected images of shape (N, H, W); '
                        f'its header gives {images.shape}.')
  if labels.ndim != 1:
    raise DataFileError(f'{labels_path}: expected labels of shape (N,); its '
                        f'header gives {labels.shape}.')
  if len(images) != len(labels):
    raise DataFileError(
        f'{images_path} holds {len(images)} images but {labels_path} holds '
        f'{len(labels)} labels; they must be the files of one split (was one '
        'copied over from another split?). Download them again.')
  if len(labels) and labels.max() >= num_classes:
    raise DataFileError(f'{labels_path}: label {labels.max()} is outside '
                        f'[0, {num_classes}); not a label file of this '
                        'dataset.')
  return images, labels


def fashion_mnist_dirs(data_dir: str | None = None) -> list[str]:
  """Directories searched for Fashion-MNIST, in order.

  A given ``data_dir`` is the only place looked in (with its
  ``fashion-mnist`` and ``fashion_mnist`` subfolders): a mistyped or
  incomplete folder fails instead of silently reading another copy.
  """
  if data_dir:
    return [data_dir, os.path.join(data_dir, 'fashion-mnist'),
            os.path.join(data_dir, 'fashion_mnist')]
  dirs = []
  if os.environ.get(FASHION_MNIST_ENV):
    dirs.append(os.environ[FASHION_MNIST_ENV])
  dirs.append(FASHION_MNIST_SYSTEM_DIR)
  return dirs


def find_fashion_mnist(data_dir: str | None = None) -> str:
  """The first directory that holds all four Fashion-MNIST IDX files.

  Args:
    data_dir: the folder to read (also its ``fashion-mnist`` subfolder); when
      given, no other place is searched.

  Returns:
    The directory.

  Raises:
    DataNotFoundError: listing every directory searched, the files missing
      in each, and how to get them.
  """
  names = [n for pair in FASHION_MNIST_FILES.values() for n in pair]
  searched = fashion_mnist_dirs(data_dir)
  missing = {}
  for d in searched:
    missing[d] = [n for n in names if not os.path.exists(os.path.join(d, n))]
    if not missing[d]:
      return d

  def where(d):
    if not os.path.isdir(d):
      return f'{d} (no such folder)'
    if len(missing[d]) == len(names):
      return f'{d} (none of them)'
    return f'{d} (missing {", ".join(missing[d])})'

  raise DataNotFoundError(
      'Fashion-MNIST IDX files (' + ', '.join(names) + ') not found. Looked '
      'in:\n  ' + '\n  '.join(map(where, searched))
      + ('\nOnly the given data_dir is searched: check its spelling and that '
         'it holds all four files, or leave data_dir empty to use '
         f'${FASHION_MNIST_ENV} or {FASHION_MNIST_SYSTEM_DIR}.'
         if data_dir else '') + '\nTo get them: on Debian/Ubuntu '
      '`apt-get install dataset-fashion-mnist` (installs them into '
      f'{FASHION_MNIST_SYSTEM_DIR}), or download the four files from '
      'https://github.com/zalandoresearch/fashion-mnist (data/fashion) into a '
      f'folder and pass --data_dir=FOLDER or set ${FASHION_MNIST_ENV}.')


def load_fashion_mnist(data_dir: str | None = None,
                       validation_fraction: float = 0.1,
                       max_train_examples: int | None = None) -> Dataset:
  """Real Fashion-MNIST (60k train, 10k test, 28x28) from local IDX files.

  Args:
    data_dir: searched first; see :func:`find_fashion_mnist`.
    validation_fraction: share of the training split held out.
    max_train_examples: keep only this many training examples (after the
      validation split; a fixed subset) for CPU budgets.

  Returns:
    A :class:`Dataset` with (N, 28, 28, 1) float32 inputs in [-1, 1].
  """
  d = find_fashion_mnist(data_dir)
  splits = {}
  for split, (images, labels) in FASHION_MNIST_FILES.items():
    x, y = read_idx_pair(os.path.join(d, images), os.path.join(d, labels))
    splits[split] = (_normalise_images(x, 255.0), y.astype(np.int32))
  if np.array_equal(splits['train'][0], splits['test'][0]):
    raise DataFileError(
        f'{d}: the train and test images are the same images; one file was '
        'copied over the other. Download them again.')
  train, val = split_validation(*splits['train'], validation_fraction)
  train = take_first(train, max_train_examples)
  return Dataset('fashion_mnist', 'classification', train, val,
                 splits['test'], 10)


# ------------------------------------------------------------------ text


def pydoc_text() -> str:
  """The English help text shipped with CPython, in a fixed order."""
  from pydoc_data import topics  # pylint: disable=g-import-not-at-top
  return '\n\n'.join(topics.topics[k] for k in sorted(topics.topics))


def load_pydoc_text(seq_len: int = 64, validation_fraction: float = 0.05,
                    test_fraction: float = 0.05,
                    max_train_examples: int | None = None) -> Dataset:
  """Character-level language modelling on ``pydoc_data.topics`` text.

  The text is split contiguously (train | validation | test), so no window
  of the test text was seen in training, then cut into non-overlapping
  windows of ``seq_len + 1`` characters.

  Args:
    seq_len: characters per example.
    validation_fraction: share of the text used for validation.
    test_fraction: share of the text used for test (the end of the text).
    max_train_examples: keep only the first this many training windows.

  Returns:
    A ``'lm'`` :class:`Dataset`: inputs and targets are (N, seq_len) int32.
  """
  text = pydoc_text()
  vocab = ''.join(sorted(set(text)))
  ids = np.frombuffer(text.encode('utf-32-le'), np.uint32)
  lookup = {ord(c): i for i, c in enumerate(vocab)}
  ids = np.array([lookup[int(c)] for c in ids], np.int32)
  n_test = int(len(ids) * test_fraction)
  n_val = int(len(ids) * validation_fraction)
  parts = np.split(ids, [len(ids) - n_val - n_test, len(ids) - n_test])

  def windows(a):
    n = (len(a) - 1) // seq_len
    x = a[:n * seq_len].reshape(n, seq_len)
    y = a[1:n * seq_len + 1].reshape(n, seq_len)
    return x, y

  train, val, test = (windows(p) for p in parts)
  train = take_first(train, max_train_examples)
  return Dataset('pydoc_text', 'lm', train, val, test, len(vocab), vocab)


# ------------------------------------------------------------------ TFDS


def _resize(image: np.ndarray, size: int | None) -> np.ndarray:
  if not size or image.shape[:2] == (size, size):
    return image
  from PIL import Image  # pylint: disable=g-import-not-at-top
  squeeze = image.ndim == 3 and image.shape[-1] == 1
  pil = Image.fromarray(image[..., 0] if squeeze else image)
  out = np.asarray(pil.resize((size, size), Image.BILINEAR))
  return out[..., None] if squeeze else out


def _tfds_example_to_arrays(examples, image_key, label_key, image_size=None):
  examples = list(examples)
  images = np.stack([_resize(np.asarray(e[image_key]), image_size)
                     for e in examples])
  labels = np.asarray([int(e[label_key]) for e in examples], np.int32)
  return images, labels


def _read_with_data_source(name, split, data_dir, download, image_key,
                           label_key, limit=None, image_size=None):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  src = tfds.data_source(name, split=split, data_dir=data_dir,
                         download=download)
  n = len(src) if limit is None else min(limit, len(src))
  # src[i], not __getitems__: the latter fails under tfds.testing.mock_data.
  return _tfds_example_to_arrays((src[i] for i in range(n)), image_key,
                                 label_key, image_size)


def _read_with_load(name, split, data_dir, download, image_key, label_key,
                    limit=None, image_size=None):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  ds = tfds.load(name, split=split, data_dir=data_dir, download=download)
  if limit is not None:
    ds = ds.take(limit)
  # Iterate instead of batch_size=-1, which aborts the process under mocks.
  return _tfds_example_to_arrays(tfds.as_numpy(ds), image_key, label_key,
                                 image_size)


def tensorflow_available() -> bool:
  try:
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


def choose_tfds_reader(name: str, data_dir: str | None = None,
                       download: bool = False) -> str:
  """Which API reads a TFDS dataset: ``'data_source'`` or ``'load'``.

  Decided up front from the prepared files (the error TFDS itself raises for
  a missing or tfrecord dataset is misleading):

  * prepared as array_record -> ``'data_source'`` (no TensorFlow needed);
  * prepared as tfrecord -> ``'load'`` if TensorFlow is importable;
  * not prepared and ``download`` -> ``'data_source'`` after preparing it as
    array_record (preparing CIFAR/MNIST from source itself needs TensorFlow);
  * otherwise a :class:`DataNotFoundError` saying what to do.

  Args:
    name: TFDS name, e.g. ``'cifar10'`` or ``'cifar10:3.0.2'``.
    data_dir: TFDS data directory; default ``~/tensorflow_datasets``.
    download: allow downloading and preparing the dataset.

  Returns:
    ``'data_source'`` or ``'load'``.
  """
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        f'Reading the TFDS dataset {name!r} needs tensorflow-datasets: pip '
        "install 'lerac_jax[tfds]'") from e
  builder = tfds.builder(name, data_dir=data_dir)
  where = builder.data_dir
  if builder.is_prepared():
    fmt = str(getattr(builder.info.file_format, 'value',
                      builder.info.file_format))
    if fmt == 'array_record':
      return 'data_source'
    if tensorflow_available():
      return 'load'
    raise DataNotFoundError(
        f'TFDS dataset {name!r} in {where} is prepared as {fmt}, which only '
        'tfds.load can read, and tfds.load needs TensorFlow. Either install '
        "TensorFlow (pip install tensorflow-cpu), or re-prepare the dataset "
        "as array_record, which is read without TensorFlow: "
        f"tfds.builder({name!r}, data_dir=..., file_format='array_record')"
        '.download_and_prepare().')
  if download:
    tfds.builder(name, data_dir=data_dir,
                 file_format='array_record').download_and_prepare()
    return 'data_source'
  raise DataNotFoundError(
      f'TFDS dataset {name!r} is not prepared in {where} (data_dir='
      f'{data_dir or "default ~/tensorflow_datasets"}). Nothing is downloaded '
      'unless you pass --download. Either pass --data_dir pointing at a '
      'folder where it is prepared, or prepare it once with network access: '
      f"tfds.builder({name!r}, file_format='array_record')"
      '.download_and_prepare() (TF-free reading afterwards; preparing '
      'CIFAR/MNIST from source needs TensorFlow), or pass --download.')


def load_tfds(name: str, data_dir: str | None = None, download: bool = False,
              validation_fraction: float = 0.1, reader: str = 'auto',
              image_key: str = 'image', label_key: str = 'label',
              train_split: str = 'train', test_split: str = 'test',
              max_train_examples: int | None = None,
              max_test_examples: int | None = None,
              image_size: int | None = None) -> Dataset:
  """Any TFDS image classification dataset, as numpy arrays.

  Args:
    name: TFDS name.
    data_dir: TFDS data directory.
    download: allow downloading (off by default: offline it hangs).
    validation_fraction: share of ``train_split`` held out.
    reader: ``'auto'`` (see :func:`choose_tfds_reader`), ``'data_source'``
      or ``'load'``.
    image_key: feature holding the image.
    label_key: feature holding the class label.
    train_split: split to train on (and to hold validation out of).
    test_split: split reported as test.
    max_train_examples: read at most this many training examples.
    max_test_examples: read at most this many test examples.
    image_size: resize every image to (image_size, image_size) (bilinear);
      needed for datasets of mixed sizes such as ``imagenette``.

  Returns:
    A :class:`Dataset` with float32 images in [-1, 1].
  """
  if reader == 'auto':
    reader = choose_tfds_reader(name, data_dir, download)
  read = {'data_source': _read_with_data_source,
          'load': _read_with_load}[reader]
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  info = tfds.builder(name, data_dir=data_dir).info
  num_classes = info.features[label_key].num_classes
  x, y = read(name, train_split, data_dir, download, image_key, label_key,
              max_train_examples, image_size)
  xt, yt = read(name, test_split, data_dir, download, image_key, label_key,
                max_test_examples, image_size)
  train, val = split_validation(_normalise_images(x, 255.0), y,
                                validation_fraction)
  return Dataset(name, 'classification', train, val,
                 (_normalise_images(xt, 255.0), yt), num_classes)


def load(name: str, data_dir: str | None = None, download: bool = False,
         validation_fraction: float = 0.1, **kwargs) -> Dataset:
  """Loads a dataset by name (see the module docstring).

  Args:
    name: ``'digits'``, ``'fashion_mnist'``, ``'pydoc_text'`` or a TFDS name.
    data_dir: where to look for local files.
    download: TFDS only: allow downloading.
    validation_fraction: share of the training data held out.
    **kwargs: passed to the specific loader (e.g. ``seq_len``,
      ``max_train_examples``, ``reader``).

  Returns:
    A :class:`Dataset`.
  """
  kwargs = {k: v for k, v in kwargs.items() if v is not None}
  if name == 'digits':
    return load_digits(validation_fraction,
                       max_train_examples=kwargs.get('max_train_examples'))
  if name == 'fashion_mnist':
    # Local IDX files first; a TFDS copy only if they are missing.
    try:
      return load_fashion_mnist(data_dir, validation_fraction,
                                kwargs.get('max_train_examples'))
    except DataNotFoundError as local_error:
      try:
        return load_tfds(name, data_dir, download, validation_fraction,
                         **kwargs)
      except (DataNotFoundError, ImportError):
        raise local_error from None
  if name == 'pydoc_text':
    return load_pydoc_text(validation_fraction=validation_fraction,
                           **kwargs)
  return load_tfds(name, data_dir, download, validation_fraction, **kwargs)


def batches(x: np.ndarray, y: np.ndarray, batch_size: int,
            rng: np.random.Generator | None = None,
            drop_remainder: bool = True
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """Yields (x, y) minibatches, shuffled by ``rng`` when given.

  Example:
    >>> x = np.arange(10)
    >>> [len(b[0]) for b in batches(x, x, 4)]
    [4, 4]
    >>> [len(b[0]) for b in batches(x, x, 4, drop_remainder=False)]
    [4, 4, 2]
  """
  n = len(x)
  if isinstance(batch_size, bool) or not isinstance(
      batch_size, (int, np.integer)) or batch_size < 1:
    raise ValueError(f'batch_size={batch_size!r}: must be an integer >= 1, '
                     'e.g. 64')
  if n == 0:
    raise ValueError('no examples to batch: the split is empty (was '
                     'max_train_examples or the validation split set to '
                     'leave none?)')
  if len(y) != n:
    raise ValueError(f'{n} inputs but {len(y)} targets')
  order = rng.permutation(n) if rng is not None else np.arange(n)
  stop = n - n % batch_size if drop_remainder else n
  if stop == 0:  # fewer examples than one batch: keep the partial batch
    stop = n
  for i in range(0, stop, batch_size):
    idx = order[i:i + batch_size]
    yield x[idx], y[idx]


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  """Training steps per epoch (partial batches dropped, at least one).

  Raises:
    ValueError: ``batch_size`` < 1, or no examples (the training loop
      would wait forever for a step).
  """
  if batch_size < 1:
    raise ValueError(f'batch_size={batch_size!r}: must be an integer >= 1, '
                     'e.g. 64')
  if num_examples < 1:
    raise ValueError('the training split is empty (max_train_examples, or '
                     'the dataset, leaves no examples)')
  return max(1, num_examples // batch_size)


__all__: Sequence[str] = (
    'Dataset', 'DataFileError', 'DataNotFoundError', 'batches', 'choose_tfds_reader', 'load',
    'load_digits', 'load_fashion_mnist', 'load_pydoc_text', 'load_tfds',
    'split_validation', 'steps_per_epoch')

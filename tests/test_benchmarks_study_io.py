# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Results files: atomic saves, one writer at a time, damaged files named.

The concurrency tests start real processes (multiprocessing, 'spawn'), each
bounded to a few hundred small saves and a timeout.
"""

import json
import multiprocessing
import os
import stat

import pytest

from benchmarks import accuracy
from benchmarks import gpu_study
from benchmarks import overhead
from benchmarks import proportional_study
from benchmarks import study_io
from tests import study_io_worker

SPAWN = multiprocessing.get_context("spawn")

DAMAGED = {
    "empty": (b"", "is empty (0 bytes)"),
    "blank": (b"\n  \n", "is empty"),
    "truncated": (b'{"meta": {"settings": {}}, "runs": {"a|seed=0": {"te',
                  "is not valid JSON (it ends inside the JSON: cut short"),
    "object without keys": (b"{}", "is not a study file: it has no 'meta'"),
    "list": (b"[1, 2]", "is not a study file"),
    "binary": (b"\x80\x81\x82", "is not valid JSON"),
}


def test_save_and_load_round_trip_leave_no_temporary_file(tmp_path):
  path = str(tmp_path / "study.json")
  data = {"meta": {"a": 1}, "runs": {"x": [1, 2]}}
  study_io.save_results(path, data)
  study_io.save_results(path, data)
  assert study_io.load_results(path) == data
  assert sorted(os.listdir(tmp_path)) == ["study.json"]  # no .tmp, no .lock


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_file_is_named_and_kept(tmp_path, case):
  content, what = DAMAGED[case]
  path = tmp_path / "study.json"
  path.write_bytes(content)
  with pytest.raises(study_io.StudyFileError) as e:
    study_io.load_results(str(path))
  assert str(e.value).startswith(str(path)) and what in str(e.value)
  assert "left as it is" in str(e.value)
  assert path.read_bytes() == content


@pytest.mark.parametrize("main,keys", [
    (lambda p: accuracy.main(["--report", "--out", p]), "'meta', 'runs'"),
    (lambda p: proportional_study.main(["--report", "--out", p]),
     "'meta', 'runs'"),
    (lambda p: accuracy.main(["--quick", "--out", p]), "'meta', 'runs'"),
    (lambda p: gpu_study.main(["--tiny", "--out", p]), "'meta', 'arms'"),
    (lambda p: overhead.main(["--render", p]), "'meta', 'models'"),
], ids=["accuracy-report", "proportional-report", "accuracy-run",
        "gpu_study", "overhead-render"])
def test_every_script_names_a_damaged_file(tmp_path, main, keys):
  for content, what in (DAMAGED["truncated"], (b"{}", f"has no {keys}")):
    path = tmp_path / "study.json"
    path.write_bytes(content)
    with pytest.raises(study_io.StudyFileError) as e:
      main(str(path))
    assert str(path) in str(e.value) and what in str(e.value)
    assert path.read_bytes() == content


@pytest.mark.parametrize("main", [
    lambda p: accuracy.main(["--report", "--out", p]),
    lambda p: proportional_study.main(["--report", "--out", p]),
    lambda p: overhead.main(["--render", p]),
], ids=["accuracy", "proportional", "overhead"])
def test_report_of_a_mistyped_out_fails(tmp_path, main, capsys):
  path = str(tmp_path / "acuracy.json")
  with pytest.raises(study_io.StudyFileError, match="no such results file"):
    main(path)
  assert capsys.readouterr().out == ""  # no empty report
  assert not os.path.exists(path)


def test_a_second_writer_is_refused_naming_the_file_and_pid(tmp_path):
  path = str(tmp_path / "study.json")
  held, done = SPAWN.Event(), SPAWN.Event()
  holder = SPAWN.Process(target=study_io_worker.hold_lock,
                         args=(path, held, done))
  holder.start()
  try:
    assert held.wait(60), "the holder never took the lock"
    with pytest.raises(study_io.StudyLockedError) as e:
      study_io.save_results(path, {"meta": {}, "runs": {}})
    assert str(e.value).startswith(f"{path} is being written by another "
                                   f"process (pid {holder.pid},")
    with pytest.raises(study_io.StudyLockedError):  # a whole study, too
      study_io.load_or_run(path, False, lambda: {})
  finally:
    done.set()
    holder.join(60)
  assert holder.exitcode == 0
  study_io.save_results(path, {"meta": {}, "runs": {}})  # free again
  assert sorted(os.listdir(tmp_path)) == ["study.json"]


def test_concurrent_writers_and_a_reader_never_see_a_broken_file(tmp_path):
  path = str(tmp_path / "study.json")
  study_io.save_results(path, {"meta": {}, "runs": {}})
  results = SPAWN.Queue()
  procs = [SPAWN.Process(target=study_io_worker.save_many,
                         args=(path, name, 150, results))
           for name in ("a", "b")]
  procs.append(SPAWN.Process(target=study_io_worker.read_many,
                             args=(path, 300, results)))
  for p in procs:
    p.start()
  got = {}
  for _ in procs:
    name, ok, refused, errors = results.get(timeout=120)
    got[name] = (ok, refused, errors)
  for p in procs:
    p.join(60)
    assert p.exitcode == 0
  for name in ("a", "b"):
    ok, refused, errors = got[name]
    assert errors == [] and ok + refused == 150, got
  # Which writer wins each save is up to the scheduler (on one busy core one
  # writer can be refused every time), but saves were made.
  assert got["a"][0] + got["b"][0] > 0, got
  assert got["reader"][2] == [] and got["reader"][0] == 300, got
  final = study_io.load_results(path)
  assert final["meta"]["writer"] in ("a", "b")
  assert sorted(os.listdir(tmp_path)) == ["study.json"]


def test_the_lock_is_reentrant_within_a_process(tmp_path):
  path = str(tmp_path / "study.json")
  with study_io.lock(path):
    study_io.save_results(path, {"meta": {}, "runs": {}})
    assert os.path.exists(path + ".lock")
  assert not os.path.exists(path + ".lock")
  assert json.loads(open(path).read()) == {"meta": {}, "runs": {}}


# ------------------------------------------------------------ their flags


def test_quick_keeps_explicit_seeds_and_regimes():
  args = accuracy.parse_args(["--quick", "--seeds", "3", "--regimes",
                              "conventional,warmup,lerac"])
  assert args.seeds == 3
  assert args.regimes == ["conventional", "warmup", "lerac"]
  assert args.dataset == "digits" and args.epochs == 1  # the rest is quick
  assert accuracy.parse_args(["--quick"]).seeds == 2
  tiny = gpu_study.parse_args(["--tiny", "--seeds", "3"])
  assert tiny.seeds == 3 and tiny.epochs == 2


@pytest.mark.parametrize("parse", [accuracy.parse_args,
                                   proportional_study.parse_args],
                         ids=["accuracy", "proportional"])
def test_negative_max_runs_is_refused(parse, capsys):
  # It used to be a slice end: --max_runs -1 ran 7 of 8 planned runs.
  with pytest.raises(SystemExit) as e:
    parse(["--quick", "--max_runs", "-1"])
  assert e.value.code == 2
  assert "--max_runs" in capsys.readouterr().err


def test_study_configs_are_validated_before_any_run(tmp_path):
  out = str(tmp_path / "acc.json")
  with pytest.raises(ValueError, match=r"config.k_epochs=3.0: longer than "
                     r"the run \(num_epochs=1\)"):
    accuracy.main(["--quick", "--out", out, "--k_epochs", "3"])
  assert not os.path.exists(out)


def test_a_saved_file_has_the_mode_a_plain_open_gives(tmp_path):
  # The temporary file of an atomic save is private (0600); the results
  # file it becomes must not be.
  path = str(tmp_path / "study.json")
  study_io.save_results(path, {"meta": {}, "runs": {}})
  mask = os.umask(0)
  os.umask(mask)
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask

"""Smoke tests for benchmarks/overhead.py (the overhead benchmark).

The main test runs the program end to end on its ``--quick`` setting (tiny MLP
and scanned Transformer, 3 step pairs, 1 compile pair) in well under a minute
on 2 CPU cores; torch is hidden so that the skip path of variant D is what runs.
"""

import glob
import json
import os
import sys

import pytest

from benchmarks import models
from benchmarks import overhead

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def test_quick_run_end_to_end(tmp_path, monkeypatch, capsys):
  monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
  out = tmp_path / "overhead.json"
  overhead.main(["--quick", "--models", "mlp,transformer", "--out", str(out)])
  data = json.loads(out.read_text())

  assert data["meta"]["quick"] and data["meta"]["step_pairs"] == 3
  assert data["meta"]["command"].startswith("python benchmarks/overhead.py")
  for name in ("mlp", "transformer"):
    r = data["models"][name]
    # B and C compute the same learning rates, hence the same updates.
    assert r["b_vs_c_max_rel_diff"] < 1e-5, name
    b, c = r["variants"]["B"], r["variants"]["C"]
    # LeracState: the count and the next multipliers, 4 * (depths + 1).
    assert b["extra_state_bytes"] == 4 * (r["num_depths"] + 1)
    assert c["extra_state_bytes"] >= 4 * r["num_depths"]
    for v in ("A", "B", "C"):
      variant = r["variants"][v]
      assert len(variant["step_seconds"]) == 3
      assert all(t > 0 for t in variant["step_seconds"])
      assert variant["hlo"]["total"] > variant["hlo"]["entry"] > 0
    assert b["step_ratio"]["n"] == 3 and b["compile_ratio"]["n"] == 1
    assert b["memory"] is None or "temp_size_in_bytes" in b["memory"]
  # The scanned model: C must unstack, so it needs more HLO than B.
  t = data["models"]["transformer"]["variants"]
  assert t["C"]["hlo"]["total"] > t["B"]["hlo"]["total"]
  assert all(s["extra_B"] == 4 * (s["num_depths"] + 1)
             for s in data["state_sweep"])
  assert "pip install torch==2.13.0" in data["torch"]["skipped"]
  printed = capsys.readouterr().out
  assert overhead.render(data) in printed
  assert "D (PyTorch): skipped" in printed


@pytest.mark.slow
def test_quick_resnet_with_cbs(tmp_path):
  out = tmp_path / "overhead.json"
  overhead.main(["--quick", "--models", "resnet18", "--no-torch", "--out",
                 str(out), "--step-pairs", "2"])
  r = json.loads(out.read_text())["models"]["resnet18"]
  assert r["b_vs_c_max_rel_diff"] < 1e-5
  assert r["variants"]["B"]["extra_state_bytes"] == 4 * (r["num_depths"] + 1)
  assert r["cbs_step_ratio"]["n"] == 2
  # The CBS model has the extra blur ops (examples.cbs.smooth2d).
  hlo = {v: r["variants"][v]["hlo"]["total"] for v in ("A", "A_cbs")}
  assert hlo["A_cbs"] > hlo["A"]


def test_torch_param_groups():
  pytest.importorskip("torch")
  r = overhead.bench_torch(overhead.QUICK["mlp"], pairs=2)
  assert r["num_groups"] == overhead.QUICK["mlp"].kwargs["num_layers"]
  assert r["step_ratio"]["n"] == 2 and r["step_ratio"]["median"] > 0


@pytest.mark.parametrize("name", ["transformer", "resnet18"])
def test_torch_groups_are_the_jax_depths(name):
  pytest.importorskip("torch")
  setting = overhead.QUICK[name]
  net = models.torch_models()[name](**setting.kwargs)
  groups = models.torch_layer_groups(net)
  overhead.check_torch_groups(setting, net, groups)  # raises if they differ
  if name == "transformer":  # embed, 4 per pre-norm block, head
    assert len(groups) == 2 + 4 * setting.kwargs["num_layers"]


def test_depth_sweep_smoke(tmp_path):
  rows = overhead.depth_sweep((3, 40), compile_pairs=1, step_pairs=2)
  assert [r["num_depths"] for r in rows] == [3, 40]
  for r in rows:
    assert r["compile_ratio"]["n"] == 1 and r["step_ratio"]["n"] == 2
    assert all(t > 0 for t in r["compile_seconds"]["B"])
  assert "| 40 |" in overhead.render_depth_sweep(rows)
  overhead.plot_depth_sweep(rows, str(tmp_path / "sweep.png"))
  assert (tmp_path / "sweep.png").stat().st_size > 0


def test_count_hlo():
  text = """HloModule jit_step, entry_computation_layout={(f32[2]{0})->f32[2]{0}}

%fused_computation (param_0: f32[2]) -> f32[2] {
  %param_0 = f32[2]{0} parameter(0)
  ROOT %multiply.1 = f32[2]{0} multiply(%param_0, %param_0)
}

ENTRY %main.5 (Arg_0.1: f32[2]) -> f32[2] {
  %Arg_0.1 = f32[2]{0} parameter(0)
  ROOT %fusion = f32[2]{0} fusion(%Arg_0.1), kind=kLoop, calls=%fused_computation
}
"""
  assert overhead.count_hlo(text) == dict(
      total=4, entry=2, entry_fusions=1, entry_kernels=1, entry_buffers=0,
      computations=2)


def test_count_hlo_tells_kernels_from_buffers():
  # A two-output reduce at ENTRY (tuple shape with spaces), its two buffers.
  text = """ENTRY %main (p: f32[4]) -> (f32[], f32[]) {
  %p = f32[4]{0} parameter(0)
  %c = f32[] constant(0)
  %r = (f32[], f32[]) reduce(%p, %p, %c, %c), dimensions={0}, to_apply=%add
  %a = f32[] get-tuple-element(%r), index=0
  %b = f32[] get-tuple-element(%r), index=1
  ROOT %t = (f32[], f32[]) tuple(%a, %b)
}
"""
  counts = overhead.count_hlo(text)
  assert (counts["entry"], counts["entry_kernels"], counts["entry_buffers"]
          ) == (6, 1, 2)


def test_readme_tables_match_committed_results():
  files = [f for f in glob.glob(os.path.join(RESULTS, "overhead_*.json"))
           if not f.endswith("_quick.json")]
  if not files:
    pytest.skip("no committed results yet")
  with open(os.path.join(ROOT, "benchmarks", "README.md")) as f:
    readme = f.read()
  with open(os.path.join(ROOT, "docs", "benchmarks.md")) as f:
    summary_page = f.read()
  for path in files:
    with open(path) as f:
      data = json.load(f)
    assert overhead.render(data) in readme, os.path.basename(path)
    assert overhead.render_summary(data) in summary_page, os.path.basename(path)
    assert f"`{data['meta']['command']}`" in readme


def test_depth_sweep_tables_match_committed_results():
  path = os.path.join(RESULTS, "depth_sweep_cpu.json")
  with open(path) as f:
    table = overhead.render_depth_sweep(json.load(f)["depth_sweep"])
  for page in ("benchmarks/README.md", "docs/benchmarks.md"):
    with open(os.path.join(ROOT, page)) as f:
      assert table in f.read(), page

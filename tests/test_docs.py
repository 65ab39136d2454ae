"""The docs: generated pages current, quoted figures made by the current code, code that runs.

- The scenario-keys and KPI pages are what `docs/gen_reference.py` writes from the schema
  and the registry.
- Every figure README or a docs page quotes (`<!-- fig:NAME.KEY -->`) is the value of its
  file in docs/figures, and that file was made with the current scenario and model digest
  (`docs/make_figures.py` remakes them).
- README's Python block and the tutorials' Python blocks run, on two replications.
- `mkdocs build --strict` passes.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


figs = _module("make_figures")


def test_generated_reference_pages_are_current():
    gen = _module("gen_reference")
    for name, make in gen.PAGES.items():
        assert (ROOT / "docs" / "reference" / name).read_text() == make(), (
            f"docs/reference/{name} is stale: run python docs/gen_reference.py")


def _quotes() -> list[tuple[Path, str, str, str]]:
    out = []
    for path in figs.page_files():
        for m in figs.MARKER.finditer(path.read_text()):
            out.append((path, m.group(1), m.group(2), m.group(3).strip("\n")))
    return out


def test_readme_and_docs_quote_figures():
    quoted = {p.name for p, *_ in _quotes()}
    assert "README.md" in quoted and "default-question.md" in quoted


def test_every_quoted_figure_is_made_by_the_current_scenario_and_model():
    figures = figs.load_figures()
    model = figs.model_digest()
    checked: dict[str, bool] = {}
    for path, name, key, text in _quotes():
        where = f"{path.relative_to(ROOT)}: fig:{name}.{key}"
        assert name in figures, f"{where}: no docs/figures/{name}.json"
        f = figures[name]
        if name not in checked:
            assert f["model_digest"] == model, (
                f"{where}: made with model {f['model_digest']}, the code is {model}; run "
                "python docs/make_figures.py")
            now = figs.scenario_digest(figs.FIGURES[name]["scenario"], f["overrides"])
            assert f["scenario_digest"] == now, (
                f"{where}: made with scenario {f['scenario_digest']}, the code's is {now}; "
                "run python docs/make_figures.py")
            checked[name] = True
        assert key in f["values"], f"{where}: docs/figures/{name}.json has no {key}"
        assert text == f["values"][key], f"{where}: quotes {text!r}, the file has another value"


def test_a_stale_figure_fails(tmp_path):
    figures = {"baseline": {"values": {"x": "1%"}}}
    assert figs.fill("a <!-- fig:baseline.x -->2%<!-- /fig --> b", figures) == \
        "a <!-- fig:baseline.x -->1%<!-- /fig --> b"
    assert figs.model_digest() != figs.hashlib.sha256(b"").hexdigest()[:16]


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), re.S | re.M)


PAGES_WITH_CODE = [ROOT / "README.md", *sorted((ROOT / "docs" / "tutorials").glob("*.md"))]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: p.name)
def test_python_blocks_run(page, tmp_path):
    blocks = _python_blocks(page)
    if not blocks:
        pytest.skip(f"{page.name} has no Python block")
    # A few replications: the code is what is checked, not its numbers.
    code = "\n\n".join(re.sub(r"replications=\d+", "replications=2", b) for b in blocks)
    script = tmp_path / "blocks.py"
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.slow
def test_mkdocs_builds_strict(tmp_path):
    if shutil.which("mkdocs") is None and importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install '.[docs]')")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                        str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]


def test_backtest_results_are_made_by_the_current_priors_observations_and_history():
    bt = _module("make_backtest")
    page = bt.PAGE.read_text()
    header = bt.made(page)
    assert header, f"{bt.PAGE.name}: no header; run capsim backtest and docs/make_backtest.py"
    now = bt.digests()
    for key, value in now.items():
        assert header.get(key) == value, (
            f"{bt.PAGE.relative_to(ROOT)}: made with another {key.removesuffix('_sha256')}; "
            "run capsim backtest --out BT, then python docs/make_backtest.py BT")
    for ref in re.findall(r"\(\.\./figures/([\w.-]+)\)", page):
        assert (ROOT / "docs" / "figures" / ref).is_file(), ref

"""What a built wheel holds: every SQL step the code can run, and the package data it names."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STEP = re.compile(r"""["']((?:staging|marts|filters|schema)/[a-z0-9_]+)["']""")


def steps_named_in_code() -> set[str]:
    """Every SQL step name written as a literal in the package's Python code."""
    names: set[str] = set()
    for path in list((ROOT / "curation").rglob("*.py")) + list((ROOT / "flows").rglob("*.py")):
        names.update(STEP.findall(path.read_text(encoding="utf-8")))
    return names


def test_every_step_named_in_code_is_a_file():
    steps = steps_named_in_code()
    assert len(steps) > 60  # the pattern still finds the steps
    missing = sorted(s for s in steps if not (ROOT / "curation" / "sql" / f"{s}.sql").is_file())
    assert not missing


@pytest.mark.slow
def test_the_wheel_holds_every_sql_step_and_no_missing_package_data(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("booru_curate-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    for step in steps_named_in_code():
        assert f"curation/sql/{step}.sql" in inside, step
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "curation" / "sql").rglob("*.sql")}
    assert on_disk <= inside
    assert "curation/schemas/suggestions.schema.json" in inside
    assert any(name.startswith("curation/ingest/_kernels") and name.endswith(".so") for name in inside)

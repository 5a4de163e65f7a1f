"""The hello app (apps/hello.py): its --self-test serves every kind of page and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "apps" / "hello.py"


def test_self_test_fetches_every_page_and_exits_zero(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(APP), "--self-test"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "evweb hello app listening on http://127.0.0.1:" in result.stdout
    assert "self-test: FAIL" not in result.stdout
    assert result.stdout.count("self-test: ok") >= 14
    assert result.stdout.rstrip().endswith("self-test: passed")


def test_the_app_imports_as_a_module() -> None:
    code = (
        "import apps.hello as h; "
        "print(h.app.url_for('greet', name='x'), h.app.url_for('api:get_item', id=2))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=APP.parents[1],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["/hello/x", "/api/items/2"]

"""Building the small C libevent programs the interop tests run against (gcc + libevent-dev).

:func:`build` compiles ``tests/c/NAME.c`` into a temporary directory, or
skips the calling test with the package to install when gcc or libevent's
headers or library are missing; a compile error fails the test.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def build(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The executable of ``tests/c/<name>.c``, built with ``-levent``."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not found (apt install gcc)")
    if not Path("/usr/include/event2/http.h").exists():
        pytest.skip(
            "libevent headers missing: no /usr/include/event2/http.h (apt install libevent-dev)"
        )
    exe = tmp_path_factory.mktemp(name) / name
    cmd = [gcc, "-O1", "-Wall", "-Wextra", "-o", str(exe), str(HERE / f"{name}.c"), "-levent"]
    built = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if built.returncode != 0:
        if "cannot find -levent" in built.stderr:
            pytest.skip("libevent's library missing (apt install libevent-dev)")
        pytest.fail(f"gcc failed:\n{built.stderr}")
    return exe

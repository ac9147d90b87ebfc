"""The documentation site builds with `mkdocs build --strict` (broken links, missing pages, bad API refs fail)."""

import html
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mkdocs_build_strict(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").exists()
    # the API reference shows TRL-grammar docstrings cleanly (docs/_griffe/trl_docstrings.py): no raw markup left
    for page in (tmp_path / "site").rglob("*.html"):
        text = re.sub(r"<[^>]+>", " ", html.unescape(page.read_text()))
        assert "*optional*" not in text and "defaults to `" not in text, page
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert re.search(r'<code>k</code>\s*</td>\s*<td>\s*<code><span title="int">int</span></code>', api)

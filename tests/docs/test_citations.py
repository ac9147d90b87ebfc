"""Citations: `CITATION.cff` is valid CFF 1.2.0, and every method page ends with its paper's BibTeX.

The schema in ``data/citation_cff_1.2.0.schema.json`` is the Citation File Format's own JSON schema for version
1.2.0 (https://citation-file-format.github.io/1.2.0/schema.json, CC-BY-4.0), copied unchanged from the `cffconvert`
2.0.0 package. `cffconvert` itself is not used: it pins ``jsonschema<4``, which the notebook tools' ``jsonschema 4``
excludes; the file is validated here with ``jsonschema`` directly, as `cffconvert --validate` does.
"""

from __future__ import annotations

import configparser
import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

import trl_explore
from trl_explore.citations import PAPERS

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).resolve().parent / "data" / "citation_cff_1.2.0.schema.json"

# page -> (BibTeX key, arXiv id) of each paper it cites, typed from the papers' arXiv pages
METHOD_PAGES = {
    "lp_reg": [("huang2025lowprobability", "2510.03222")],
    "relative_negative": [("yao2025debate", "2510.04028"), ("zhu2025surprising", "2506.01347")],
    "hapo": [("liu2025uniform", "2509.16591")],
    "spear": [("qin2025learn", "2509.22601"), ("cui2025entropy", "2505.22617")],
    "rank_aware": [("wu2025diversity", "2512.22955")],
    "fourier_head": [("gillman2025fourier", "2410.22269")],
    "swireasoning": [("shi2026swireasoning", "2510.05069")],
    "lastde": [("xu2025training", "2410.06072")],
    "answer_choice_mass": [("wiegreffe2023increasing", "2305.14596")],
}


def _cff() -> dict:
    # CFF dates would load as `datetime.date` with PyYAML; the file has none (a test below would catch one: the
    # schema wants strings)
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    assert schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_citation_cff_validates_against_the_cff_1_2_0_schema():
    cff = _cff()
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in _validator().iter_errors(cff)]
    assert errors == []
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["version"] == trl_explore.__version__
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert cff["license"] == setup["metadata"]["license"]


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.pop("authors"),
        lambda c: c.update({"cff-version": 1.2}),
        lambda c: c.update({"license": "Apache 2"}),
        lambda c: c.update({"version": "0.1", "date-released": "yesterday"}),
    ],
    ids=["no authors", "version as a number", "not an SPDX licence", "bad date"],
)
def test_the_validator_rejects_broken_files(change):
    """The check can fail: the same file with one defect is refused."""
    cff = copy.deepcopy(_cff())
    change(cff)
    assert list(_validator().iter_errors(cff))


def _sections(text: str) -> list[tuple[str, str]]:
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return list(zip(parts[1::2], parts[2::2]))


def test_every_method_page_is_listed():
    assert sorted(p.stem for p in (ROOT / "docs" / "methods").glob("*.md")) == sorted(METHOD_PAGES)


@pytest.mark.parametrize("page", sorted(METHOD_PAGES))
def test_method_page_ends_with_its_papers_bibtex(page):
    """The page's last section is "Citation", with one ```bibtex block per paper: an @article / @inproceedings entry
    with the paper's key, its arXiv id as eprint, a title, authors and a year, braces balanced. The blocks are the
    entries the trainers put into their model cards (`trl_explore.citations`), character for character."""
    text = (ROOT / "docs" / "methods" / f"{page}.md").read_text()
    title, body = _sections(text)[-1]
    assert title.strip() == "Citation"
    blocks = re.findall(r"```bibtex\n(.*?)\n```", body, flags=re.S)
    assert len(blocks) == len(METHOD_PAGES[page])
    for block, (key, arxiv_id) in zip(blocks, METHOD_PAGES[page]):
        assert re.match(rf"@(article|inproceedings)\{{{key},\n", block), block
        assert block.count("{") == block.count("}") and block.endswith("\n}")
        for field in ("title", "author", "year"):
            assert re.search(rf"^\s+{field}\s+= \{{.+\}},$", block, flags=re.M), (field, block)
        assert re.search(rf"^\s+eprint\s+= \{{{re.escape(arxiv_id)}\}},$", block, flags=re.M)
        assert f"arXiv {arxiv_id}" in body or arxiv_id in body.split("```")[0]
        assert block in {paper.bibtex for paper in PAPERS.values()}

"""Model and sampler files cite their papers the RecBole way, and equations are named by paper."""
import ast
import re

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "recbole_hnlm"
CITED = sorted(p for p in [*PACKAGE.glob("model/**/*.py"), *PACKAGE.glob("sampler/*.py")]
               if p.read_text().strip() and not (p.name == "__init__.py" and p.parent.name == "general_recommender"))
PAPERS = ("HNLM", "MixGCF", "AHNS", "DNS", "RLMRec", "KAR", "LLMRec", "LightGCN", "NGCF", "SGL")


@pytest.mark.parametrize("path", CITED, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_file_opens_with_its_reference(path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc, f"{path}: no module docstring"
    paragraphs = doc.split("\n\n")
    assert paragraphs[1].startswith("Reference:\n    "), f"{path}: the second paragraph is not the reference"
    assert paragraphs[2].startswith("Reference code:"), f"{path}: no 'Reference code:' after the reference"


@pytest.mark.parametrize("path", CITED, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_equations_are_named_by_paper(path):
    named = re.compile(r"\b(%s) Eq\. ?\d" % "|".join(PAPERS))
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if re.search(r"\bEq\. ?\d", line):
            assert named.search(line), f"{path}:{n}: an equation without its paper: {line.strip()}"


def test_docstrings_point_inside_the_repository():
    for path in PACKAGE.rglob("*.py"):
        assert "DESIGN.md" not in path.read_text(), f"{path} points to DESIGN.md, which is not in the repository"

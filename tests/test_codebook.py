"""Codebook loading and validation: spec ids present, errors naming file, line and field, extension."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sessioncoder.coding.codebook import SPEC_CODE_IDS, load_codebook
from sessioncoder.errors import CodebookError

SPEC = Path(__file__).resolve().parents[2] / "shared" / "docs" / "codebook-spec.md"


def test_shipped_codebook_has_every_spec_id_exactly():
    book = load_codebook("stics")
    assert set(SPEC_CODE_IDS) <= set(book.codes)
    for code in book.codes.values():
        assert code.definition and code.examples, code.id
        assert code.rules, f"{code.id} has no rules"
    assert book.sha256 and book.ref().version == "1.1.0"


@pytest.mark.skipif(not SPEC.exists(), reason="../shared/docs/codebook-spec.md not present")
def test_spec_ids_match_the_spec_document():
    import re

    ids = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", SPEC.read_text(), flags=re.M))
    assert ids == set(SPEC_CODE_IDS)


def extension(tmp_path: Path, body: str, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_extend_and_override(tmp_path):
    path = extension(
        tmp_path,
        """\
        id: mine
        version: "2.0"
        name: Local variant
        extends: stics
        codes:
          mi.persuade:
            definition: Our team's wording.
          cognitive.thinking_report:
            name: Thinking report
            group: cognitive
            applies_to: officer
            stics_area: cognitive
            definition: Walks through a thinking report.
            rules:
              - id: thinking_report
                regex: ["thinking report"]
        """,
    )
    book = load_codebook(path)
    assert book.id == "mine" and book.version == "2.0"
    assert book.codes["mi.persuade"].definition == "Our team's wording."
    assert book.codes["mi.persuade"].rules  # the base rules are kept
    assert "cognitive.thinking_report" in book.codes
    assert book.sha256 != load_codebook("stics").sha256


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            """\
            id: mine
            version: "1"
            name: x
            extends: stics
            codes:
              mi.persuade:
                rules:
                  - id: bad
                    confidence: 1.5
                    regex: ["x"]
            """,
            r"mine.yaml:9: codes.mi.persuade.rules\[0\].confidence: Input should be less than or equal to 1",
        ),
        (
            """\
            id: mine
            version: "1"
            name: x
            extends: stics
            codes:
              new.code:
                name: New
                group: nonexistent
                applies_to: officer
                definition: d
            """,
            r"mine.yaml:\d+: .*unknown group 'nonexistent'",
        ),
        (
            """\
            id: mine
            version: "1"
            name: x
            groups: {a: {name: A}}
            codes:
              a.b: {name: B, group: a, applies_to: officer, definition: d}
            """,
            r"lacks the spec's code ids: structuring.check_in",
        ),
        (
            """\
            id: mine
            version: "1"
            name: x
            extends: stics
            codes:
              mi.persuade:
                rules:
                  - id: r
                    patterns: [[{NOTANATTR: "x"}]]
            """,
            r"mine.yaml:\d+: codes.mi.persuade.rules\[\d+\].patterns\[0\]: invalid spaCy pattern",
        ),
        ("id: [unclosed\n", r"mine.yaml:\d+: malformed YAML"),
        ("- just\n- a list\n", r"mine.yaml:1: a codebook must be a YAML mapping"),
        (
            """\
            id: mine
            version: "1"
            name: x
            extends: stics
            codes:
              mi.persuade:
                rules:
                  - id: nothing_to_match
            """,
            r"mine.yaml:8: codes.mi.persuade.rules\[0\]: a rule needs at least one of",
        ),
        (
            """\
            id: mine
            version: "1"
            name: x
            extends: stics
            codes:
              mi.persuade:
                rules:
                  - id: r
                    regex: ["(unclosed"]
            """,
            r"invalid regex",
        ),
    ],
)
def test_malformed_codebooks_name_file_line_and_field(tmp_path, body, message):
    with pytest.raises(CodebookError, match=message):
        load_codebook(extension(tmp_path, body))


def test_unknown_id_and_missing_file(tmp_path):
    with pytest.raises(CodebookError, match="unknown codebook id 'nope'"):
        load_codebook("nope")
    with pytest.raises(CodebookError, match="codebook file not found"):
        load_codebook(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(CodebookError, match="codebook file is empty"):
        load_codebook(tmp_path / "empty.yaml")


def test_cycle_is_reported(tmp_path):
    extension(tmp_path, "id: a\nversion: '1'\nname: a\nextends: b.yaml\n", "a.yaml")
    extension(tmp_path, "id: b\nversion: '1'\nname: b\nextends: a.yaml\n", "b.yaml")
    with pytest.raises(CodebookError, match="extends itself"):
        load_codebook(tmp_path / "a.yaml")


def test_unknown_code_id_check():
    book = load_codebook("stics")
    with pytest.raises(CodebookError, match=r"edits\.csv:3: unknown code id"):
        book.check_ids({"mi.persuade", "mi.bogus"}, "edits.csv:3")

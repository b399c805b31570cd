"""Agreement statistics against values computed by hand, and the ``agree`` command.

The fixture (tests/fixtures/agreement/coder_a.csv against coder_b.csv) has 11
utterances in 2 sessions. Hand computation, per code (presence on each utterance):

mi.open_question: A on s1/0, s2/2; B on s1/0, s1/4, s2/2 -> TP 2, FP 0, FN 1, TN 8.
  P = 1, R = 2/3, F1 = 0.8; po = 10/11, pe = (2*3 + 9*8)/121 = 78/121,
  kappa = (110 - 78)/(121 - 78) = 32/43.
mi.complex_reflection: A on s2/0, s2/3; B on s1/2, s2/0, s2/3 -> the same numbers.
client.change_talk: A on s1/1, s1/5; B on s1/1 -> TP 1, FP 1, FN 0, TN 9.
  P = 0.5, R = 1, F1 = 2/3; pe = (2*1 + 9*10)/121 = 92/121, kappa = 18/29.

Main practitioner behaviour over B's 7 officer utterances: 6 agree, s2/4 is
therapist_input in B and other in A. po = 6/7; B: 3 reflection, 3 question,
1 input; A: 3, 3, 0 input, 1 other; pe = 18/49; kappa = (42 - 18)/(49 - 18) = 24/31.
Macro-F1 over the four labels seen: (1 + 1 + 0 + 0)/4 = 0.5.

R:Q per session: s1 A 1/2, B 1/2; s2 A 2/2, B 2/1. ICC(2,1) on
(0.5, 0.5), (1, 2): grand mean 1, SS rows 1.0, SS cols 0.25, SS error 0.25,
MS rows 1.0, MS cols 0.25, MS error 0.25 -> (1 - .25)/(1 + .25 + 2*(.25 - .25)/2) = 0.6.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from sessioncoder.errors import InputError
from sessioncoder.research.agreement import (
    cohen_kappa,
    compare,
    icc_2_1,
    main_behaviour,
    read_coding,
    read_coding_csv,
    summary_scores,
)
from sessioncoder.schema import CodeAssignment, CodedSession, SourceInfo, Utterance

APPROX = pytest.approx


@pytest.fixture
def agreement_dir(fixtures):
    return fixtures / "agreement"


def _row(report, code):
    return next(r for r in report.codes if r["code"] == code)


def test_per_code_statistics_match_hand_computation(agreement_dir):
    report = compare(
        read_coding_csv(agreement_dir / "coder_a.csv"), read_coding_csv(agreement_dir / "coder_b.csv")
    )
    assert report.n_utterances == 11 and report.n_sessions == 2
    for code in ("mi.open_question", "mi.complex_reflection"):
        row = _row(report, code)
        assert (row["tp"], row["fp"], row["fn"], row["support"]) == (2, 0, 1, 3)
        assert row["precision"] == APPROX(1.0)
        assert row["recall"] == APPROX(2 / 3)
        assert row["f1"] == APPROX(0.8)
        assert row["kappa"] == APPROX(32 / 43)
    change = _row(report, "client.change_talk")
    assert change["precision"] == APPROX(0.5) and change["recall"] == APPROX(1.0)
    assert change["f1"] == APPROX(2 / 3)
    assert change["kappa"] == APPROX(18 / 29)
    # a code only A used: precision 0, recall undefined
    simple = _row(report, "mi.simple_reflection")
    assert simple["support"] == 0 and simple["precision"] == 0.0 and simple["recall"] is None


def test_confusion_matrix_and_main_behaviour(agreement_dir):
    report = compare(
        read_coding_csv(agreement_dir / "coder_a.csv"), read_coding_csv(agreement_dir / "coder_b.csv")
    )
    block = report.practitioner
    assert block["n"] == 7
    labels = block["labels"]
    assert block["matrix"][labels.index("therapist_input")][labels.index("other")] == 1
    assert block["accuracy"] == APPROX(6 / 7)
    assert block["kappa"] == APPROX(24 / 31)
    assert block["macro_f1"] == APPROX(0.5)
    assert report.client["n"] == 4 and report.client["accuracy"] == APPROX(0.5)
    # reflection outranks question, question outranks input
    assert main_behaviour({"mi.complex_reflection", "mi.closed_question"}) == "reflection"
    assert main_behaviour({"mi.closed_question", "mi.persuade"}) == "question"
    assert main_behaviour({"mi.advice_with_permission"}) == "therapist_input"
    assert main_behaviour({"relationship.affirmation"}) == "other"


def test_session_scores_and_icc(agreement_dir):
    report = compare(
        read_coding_csv(agreement_dir / "coder_a.csv"), read_coding_csv(agreement_dir / "coder_b.csv")
    )
    s1 = next(r for r in report.sessions if r["session"] == "s1")
    assert (s1["r_to_q_a"], s1["r_to_q_b"]) == (0.5, 0.5)
    assert (s1["pct_complex_a"], s1["pct_complex_b"]) == (0.0, 100.0)
    assert (s1["pct_open_a"], s1["pct_open_b"]) == (50.0, 100.0)
    rq = next(r for r in report.session_icc if r["measure"] == "r_to_q")
    assert rq["icc_2_1"] == APPROX(0.6)
    assert rq["mean_abs_diff"] == APPROX(0.5)
    opens = next(r for r in report.session_icc if r["measure"] == "mi.open_question")
    assert opens["icc_2_1"] == APPROX(0.0)


def test_statistics_edge_cases():
    assert cohen_kappa([1, 1, 0, 0], [1, 1, 0, 0]) == APPROX(1.0)
    assert cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == APPROX(-1.0)
    assert cohen_kappa([1, 1], [1, 1]) is None  # chance agreement is 1
    assert icc_2_1([(1, 1)]) is None
    assert icc_2_1([(1, 1), (2, 2), (3, 3)]) == APPROX(1.0)
    assert icc_2_1([(2, 2), (2, 2)]) is None
    assert summary_scores([set(), {"mi.persuade"}]) == {"r_to_q": None, "pct_complex": None, "pct_open": None}


def test_bad_csv_names_file_and_line(agreement_dir, tmp_path):
    with pytest.raises(InputError, match=r"bad_index\.csv:3: index 'zero'"):
        read_coding_csv(agreement_dir / "bad_index.csv")
    missing = tmp_path / "nocol.csv"
    missing.write_text("session,codes\ns1,mi.open_question\n")
    with pytest.raises(InputError, match=r"nocol\.csv:1: missing column\(s\) index"):
        read_coding_csv(missing)
    with pytest.raises(InputError, match="not found"):
        read_coding(tmp_path / "absent.csv")


def _write_tool_sessions(directory, coding_csv, roles_csv):
    """Coded sessions holding coder A's codes (roles from B's file), as the tool would write them."""
    roles = {(r[0], r[1]): r[3] for r in (line.split(",") for line in roles_csv.read_text().splitlines()[1:])}
    rows = [line.split(",") for line in coding_csv.read_text().splitlines()[1:]]
    by_session: dict[str, list[Utterance]] = {}
    for session, index, codes in rows:
        role = roles[(session, index)]
        by_session.setdefault(session, []).append(
            Utterance(
                index=int(index),
                speaker="A" if role == "officer" else "B",
                role=role,
                text="…",
                codes=[CodeAssignment(code=c, confidence=0.9, source="model") for c in codes.split(";") if c],
            )
        )
    for session, utterances in by_session.items():
        CodedSession(
            created=datetime(2026, 1, 1, tzinfo=UTC),
            source=SourceInfo(path=f"{session}.txt", sha256="0" * 64, kind="transcript", format="txt"),
            utterances=utterances,
        ).save(directory / f"{session}.session.json")


def test_cli_tool_dir_against_human_csv(agreement_dir, tmp_path, no_network):
    from sessioncoder.cli import app

    tool = tmp_path / "tool"
    _write_tool_sessions(tool, agreement_dir / "coder_a.csv", agreement_dir / "coder_b.csv")
    result = CliRunner().invoke(
        app,
        ["agree", str(tool), str(agreement_dir / "coder_b.csv"), "--out", str(tmp_path / "out" / "agree")],
    )
    assert result.exit_code == 0, result.output
    assert "mi.open_question" in result.output and "ICC(2,1)" in result.output
    data = json.loads((tmp_path / "out" / "agree.json").read_text())
    row = next(r for r in data["codes"] if r["code"] == "mi.open_question")
    assert row["kappa"] == APPROX(32 / 43)
    assert data["main_practitioner_behaviour"]["kappa"] == APPROX(24 / 31)
    header = (tmp_path / "out" / "agree.codes.csv").read_text().splitlines()[0]
    assert header.startswith("code,precision,recall,f1,kappa,support")
    assert (tmp_path / "out" / "agree.sessions.csv").is_file() and (
        tmp_path / "out" / "agree.icc.csv"
    ).is_file()


def test_cli_errors_are_one_line_exit_2(agreement_dir, capsys):
    from sessioncoder.cli import main

    assert main(["agree", str(agreement_dir / "unknown_code.csv"), str(agreement_dir / "coder_b.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "mi.made_up_code" in err and "unknown_code.csv" in err and len(err.splitlines()) == 1
    assert main(["agree", str(agreement_dir / "coder_a.csv"), str(agreement_dir / "bad_index.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "bad_index.csv:3" in err and len(err.splitlines()) == 1

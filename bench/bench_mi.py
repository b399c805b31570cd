"""The shipped MI coder on its AnnoMI dev transcripts: macro-F1, per-code P/R/F1 and speed.

The dev split is reproduced from the seed recorded in ``models/mi/config.json``
(and checked against the transcript ids recorded there). Speed is end to end:
encoding, features and heads, on the dev transcripts, with 1 and 2 threads.
Skips when ``../shared/data/annomi`` is absent.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SESSIONCODER_SHARED_DATA", REPO.parent / "shared" / "data"))

# Published AnnoMI macro-F1 marks (therapist 4 classes / client 3 classes), for the table.
REFERENCE = {
    "earlier models": (0.72, 0.55),
    "best published (GPU, text+audio)": (0.83, 0.66),
    "human vs majority": (0.85, 0.72),
}


def _f(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


SESSION_UTTERANCES = 300
TARGET_UTTERANCES_PER_SECOND = 200


def run() -> None:
    console = Console()
    data = SHARED_DATA / "annomi"
    if not (data / "AnnoMI-full.csv").is_file():
        print(f"skipped: {data} absent")
        return
    from sessioncoder.coding.mi.coder import default_model_dir, load_mi_coder
    from sessioncoder.research.annomi import evaluate, load_annomi, split_transcripts

    model_dir = default_model_dir()
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    split = config["split"]
    transcripts = load_annomi(data)
    _, dev_ids = split_transcripts(
        [t.transcript_id for t in transcripts], split["seed"], split["dev_fraction"]
    )
    if dev_ids != split["dev_transcripts"]:
        print("warning: reproduced dev split differs from the one recorded in config.json")
    dev = [t for t in transcripts if t.transcript_id in set(dev_ids)]
    n_utt = sum(len(t.texts) for t in dev)

    coder = load_mi_coder(model_dir)
    speeds = {}
    for threads in (1, 2):
        coder._encoder = coder.make_encoder(threads)
        wall, cpu = time.perf_counter(), time.process_time()
        for t in dev:
            coder.code_texts(t.texts, t.roles)
        speeds[threads] = (n_utt / (time.perf_counter() - wall), n_utt / (time.process_time() - cpu))
    # A 26-minute supervision session has a few hundred utterances, coded in one call; AnnoMI's
    # demonstration transcripts are much shorter (about 67 utterances), so time both.
    texts = [x for t in dev for x in t.texts][:SESSION_UTTERANCES]
    roles = [x for t in dev for x in t.roles][:SESSION_UTTERANCES]
    wall = time.perf_counter()
    coder.code_texts(texts, roles)
    session_speed = len(texts) / (time.perf_counter() - wall)
    metrics = evaluate(coder, dev)

    summary = Table(
        title=f"MI coder {config['version']} on {len(dev)} AnnoMI dev transcripts ({n_utt} utterances)"
    )
    summary.add_column("model")
    summary.add_column("therapist 4-class macro-F1", justify="right")
    summary.add_column("client 3-class macro-F1", justify="right")
    summary.add_row(
        "sessioncoder (this run)", _f(metrics["therapist_macro_f1_4"]), _f(metrics["client_macro_f1_3"])
    )
    for name, (t4, c3) in REFERENCE.items():
        summary.add_row(f"[dim]{name}[/]", f"[dim]{t4:.2f}[/]", f"[dim]{c3:.2f}[/]")
    console.print(summary)

    per_code = Table(title="Per code (dev)")
    for col in ("code", "precision", "recall", "F1", "κ", "support"):
        per_code.add_column(col, justify="left" if col == "code" else "right")
    for code, row in metrics["codes"].items():
        per_code.add_row(
            code,
            _f(row["precision"]),
            _f(row["recall"]),
            _f(row["f1"]),
            _f(row["kappa"]),
            str(row["support"]),
        )
    console.print(per_code)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    speed = Table(
        title=f"Speed, encode + features + heads (load average {load:.1f} on {os.cpu_count()} cores)"
    )
    for col in ("threads", "utterances/s (wall)", "utterances per CPU-second"):
        speed.add_column(col, justify="right")
    for threads, (wall, per_cpu) in speeds.items():
        speed.add_row(f"{threads}, per AnnoMI transcript", f"{wall:.0f}", f"{per_cpu:.0f}")
    speed.add_row(f"2, one {SESSION_UTTERANCES}-utterance session", f"{session_speed:.0f}", "")
    console.print(speed)
    verdict = "meets" if session_speed >= TARGET_UTTERANCES_PER_SECOND else "BELOW"
    console.print(
        f"session-sized coding: {session_speed:.0f} utterances/s ({verdict} the {TARGET_UTTERANCES_PER_SECOND}/s target)"
    )
    console.print(
        "[dim]wall-clock rates fall when other processes share the cores; per CPU-second they do not[/]"
    )


if __name__ == "__main__":
    run()

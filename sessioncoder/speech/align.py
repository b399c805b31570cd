"""Words to speakers to utterances.

Each recognised word goes to the speaker whose diarised speech overlaps it
most, or to the nearest speaker when none overlaps (Whisper's word times and
the diariser's boundaries disagree by a few hundred milliseconds). Turns break
where the speaker changes; a long turn is split at long pauses, or at a
sentence end once it is long, so that every utterance is a unit a coder would
mark. Word timings are kept on every utterance.
"""

from __future__ import annotations

import bisect

from pyannote.core import Annotation

from sessioncoder.schema import Utterance, Word

# A pause this long always ends an utterance, even with no speaker change.
LONG_PAUSE_SECONDS = 2.0
# Past either of these, the utterance ends at the next sentence end.
LONG_UTTERANCE_SECONDS = 20.0
LONG_UTTERANCE_WORDS = 50
# A run of at most this many words, between words of one other speaker with
# gaps shorter than FLIP_GAP_SECONDS, is a diarisation boundary error.
MAX_FLIP_WORDS = 2
FLIP_GAP_SECONDS = 0.15
SENTENCE_END = (".", "?", "!")


def _segments(annotation: Annotation) -> list[tuple[float, float, str]]:
    return sorted(
        (float(seg.start), float(seg.end), str(label))
        for seg, _t, label in annotation.itertracks(yield_label=True)
    )


def assign_speakers(words: list[Word], annotation: Annotation) -> list[Word]:
    """Copies of ``words`` with ``speaker`` set by overlap, or by the nearest segment when nothing overlaps."""
    segments = _segments(annotation)
    if not segments:
        return [w.model_copy() for w in words]
    starts = [s for s, _, _ in segments]
    max_len = max(e - s for s, e, _ in segments)
    out: list[Word] = []
    for word in words:
        overlap: dict[str, float] = {}
        # Only segments starting before the word ends and not ending before it starts can overlap.
        lo = bisect.bisect_left(starts, word.start - max_len)
        hi = bisect.bisect_right(starts, word.end)
        for s, e, label in segments[lo:hi]:
            ov = min(e, word.end) - max(s, word.start)
            if ov > 0:
                overlap[label] = overlap.get(label, 0.0) + ov
        if overlap:
            speaker = max(overlap.items(), key=lambda kv: kv[1])[0]
        else:
            mid = (word.start + word.end) / 2
            speaker = min(
                segments,
                key=lambda seg: 0.0 if seg[0] <= mid <= seg[1] else min(abs(seg[0] - mid), abs(seg[1] - mid)),
            )[2]
        out.append(word.model_copy(update={"speaker": speaker}))
    return out


def smooth_flips(words: list[Word]) -> list[Word]:
    """Give a one- or two-word speaker flip inside another speaker's fluent speech back to that speaker."""
    words = [w.model_copy() for w in words]
    i = 0
    while i < len(words):
        j = i
        while j + 1 < len(words) and words[j + 1].speaker == words[i].speaker:
            j += 1
        run = j - i + 1
        if i > 0 and j + 1 < len(words) and run <= MAX_FLIP_WORDS:
            before, after = words[i - 1], words[j + 1]
            if (
                before.speaker == after.speaker
                and words[i].start - before.end < FLIP_GAP_SECONDS
                and after.start - words[j].end < FLIP_GAP_SECONDS
                and not before.text.endswith(SENTENCE_END)
            ):
                for k in range(i, j + 1):
                    words[k].speaker = before.speaker
        i = j + 1
    return words


# A sentence fragment of at most this many words left on the wrong side of a speaker change moves across.
MAX_FRAGMENT_WORDS = 3


def _ends_sentence(word: Word) -> bool:
    return word.text.rstrip("\"')").endswith(SENTENCE_END)


def fix_sentence_fragments(words: list[Word]) -> list[Word]:
    """Move short sentence fragments across a speaker change to the speaker who says the rest.

    Whisper times the first word after a pause early, and diarisation
    boundaries lag by a few hundred ms, so a turn's first word ("My | mates
    came round") or a previous turn's last ("Cheers, | see you") often lands
    with the wrong speaker. Whisper's punctuation says where sentences
    start: a speaker change inside a sentence, with only a few words of that
    sentence on one side, is moved to the other side.
    """
    words = [w.model_copy() for w in words]
    for i in range(len(words) - 1):
        a, b = words[i], words[i + 1]
        if a.speaker == b.speaker or _ends_sentence(a):
            continue
        # Tail of a's run since its last sentence end.
        tail = [i]
        while (
            tail[0] - 1 >= 0
            and words[tail[0] - 1].speaker == a.speaker
            and not _ends_sentence(words[tail[0] - 1])
        ):
            tail.insert(0, tail[0] - 1)
        tail_starts_sentence = tail[0] == 0 or _ends_sentence(words[tail[0] - 1])
        # Head of b's run up to its first sentence end.
        head = [i + 1]
        while (
            not _ends_sentence(words[head[-1]])
            and head[-1] + 1 < len(words)
            and words[head[-1] + 1].speaker == b.speaker
        ):
            head.append(head[-1] + 1)
        head_ends_sentence = _ends_sentence(words[head[-1]])
        if tail_starts_sentence and len(tail) <= MAX_FRAGMENT_WORDS and len(tail) < len(head):
            for k in tail:
                words[k].speaker = b.speaker
        elif head_ends_sentence and len(head) <= MAX_FRAGMENT_WORDS and len(head) < len(tail):
            for k in head:
                words[k].speaker = a.speaker
    return words


def _text(words: list[Word]) -> str:
    return " ".join(w.text for w in words).strip()


def build_utterances(words: list[Word]) -> list[Utterance]:
    """Group speaker-labelled words into utterances (see module docstring for the rules)."""
    utterances: list[Utterance] = []
    current: list[Word] = []

    def flush() -> None:
        if current:
            utterances.append(
                Utterance(
                    index=len(utterances),
                    speaker=current[0].speaker or "SPEAKER_00",
                    start=current[0].start,
                    end=current[-1].end,
                    text=_text(current),
                    words=list(current),
                )
            )
            current.clear()

    for word in words:
        if current:
            last = current[-1]
            long_now = (
                last.end - current[0].start >= LONG_UTTERANCE_SECONDS or len(current) >= LONG_UTTERANCE_WORDS
            )
            if (
                word.speaker != last.speaker
                or word.start - last.end >= LONG_PAUSE_SECONDS
                or (long_now and last.text.endswith(SENTENCE_END))
            ):
                flush()
        current.append(word)
    flush()
    return utterances


# In channel-diarised audio, another speaker talking at least this long between two of a
# speaker's words ends that speaker's utterance; shorter overlaps (backchannels) do not.
INTERRUPTION_SECONDS = 1.0


def build_overlapping_utterances(words: list[Word]) -> list[Utterance]:
    """Utterances for exactly attributed words that may overlap in time (one microphone per speaker).

    Each speaker's words are grouped on their own, so talking over each other
    does not chop both speakers into one-word utterances; a speaker's
    utterance ends at their long pause, at a sentence end once long, or when
    the other speaker holds the floor in between (talks for a second, or at
    all after the speaker finished a sentence). Utterances are ordered by start.
    """
    utterances: list[Utterance] = []
    speakers = list(dict.fromkeys(w.speaker for w in words))
    for speaker in speakers:
        own = [w for w in words if w.speaker == speaker]
        others = [w for w in words if w.speaker != speaker]
        current: list[Word] = []
        groups: list[list[Word]] = []
        for word in own:
            if current:
                last = current[-1]
                between = sum(
                    o.end - o.start for o in others if last.end <= (o.start + o.end) / 2 <= word.start
                )
                long_now = (
                    last.end - current[0].start >= LONG_UTTERANCE_SECONDS
                    or len(current) >= LONG_UTTERANCE_WORDS
                )
                if (
                    word.start - last.end >= LONG_PAUSE_SECONDS
                    or between >= INTERRUPTION_SECONDS
                    or (between > 0 and _ends_sentence(last))
                    or (long_now and last.text.endswith(SENTENCE_END))
                ):
                    groups.append(current)
                    current = []
            current.append(word)
        if current:
            groups.append(current)
        utterances.extend(
            Utterance(
                index=0,
                speaker=speaker or "SPEAKER_00",
                start=g[0].start,
                end=g[-1].end,
                text=_text(g),
                words=g,
            )
            for g in groups
        )
    utterances.sort(key=lambda u: (u.start, u.end))
    for i, u in enumerate(utterances):
        u.index = i
    return utterances


def words_to_utterances(words: list[Word], annotation: Annotation) -> tuple[list[Word], list[Utterance]]:
    """The whole step: assign, smooth flips, group. Returns the labelled words and the utterances."""
    labelled = fix_sentence_fragments(smooth_flips(assign_speakers(words, annotation)))
    return labelled, build_utterances(labelled)

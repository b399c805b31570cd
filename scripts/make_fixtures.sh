#!/usr/bin/env bash
# Make the small audio fixtures in tests/fixtures/audio from the scripts in scripts/fixture_scripts.
# Needs espeak-ng and sox (apt-get install -y espeak-ng sox libsox-fmt-all). Deterministic for a
# given espeak-ng version. Keep the total under 1.5 MB: `du -sh tests/fixtures/audio`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SRC=scripts/fixture_scripts
OUT=tests/fixtures/audio
SYNTH="$PY scripts/synth_dialogue.py"
mkdir -p "$OUT"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

# Speech: two voices (mono, room microphone), two lapel microphones (stereo), telephone, one voice.
$SYNTH $SRC/dialogue.txt "$OUT/dialogue.ogg" --rttm "$OUT/dialogue.rttm"
cp $SRC/dialogue.txt "$OUT/dialogue.txt"
$SYNTH $SRC/stereo.txt "$OUT/stereo_lapel.ogg" --stereo --crosstalk-db 20 --rttm "$OUT/stereo_lapel.rttm"
cp $SRC/stereo.txt "$OUT/stereo_lapel.txt"
$SYNTH $SRC/phone.txt "$OUT/phone_8k.wav" --rate 8000 --telephone --rttm "$OUT/phone_8k.rttm"
cp $SRC/phone.txt "$OUT/phone_8k.txt"
$SYNTH $SRC/one_voice.txt "$OUT/one_voice.ogg"

# Bad input.
$SYNTH $SRC/short.txt "$OUT/too_short.ogg"                                  # about 1 s
sox -n -r 8000 -e u-law -b 8 -c 1 "$OUT/silence.wav" trim 0 4               # 4 s of digital silence
$SYNTH $SRC/phone.txt "$TMP/full.flac" --rate 8000
head -c $(( $(stat -c %s "$TMP/full.flac") * 2 / 5 )) "$TMP/full.flac" > "$OUT/truncated.flac"
# Corrupt: garbage written over a stretch in the middle of a valid Ogg file.
$PY - "$OUT/one_voice.ogg" "$OUT/corrupt.ogg" <<'PYEOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
start = len(data) // 3
for i in range(start, start + 4000):
    data[i] = (i * 7919) % 256
open(sys.argv[2], "wb").write(data)
PYEOF
printf 'Officer: this is a transcript, not a recording\n' > "$OUT/not_audio.wav"

du -ch "$OUT"/* | tail -1

# The demo recording (examples/, used by `make demo`): `bash scripts/make_fixtures.sh --demo`.
if [ "${1:-}" = "--demo" ]; then
  $SYNTH examples/supervision_session.txt examples/supervision_session.ogg --rttm examples/supervision_session.rttm
fi

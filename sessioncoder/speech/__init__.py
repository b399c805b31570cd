"""Speech: a recording in, a Transcript of words, speaker turns and utterances out (decoding, ASR, VAD,
diarisation, alignment). Imports the core modules, ``models`` and ``roles``; nothing about coding.
"""

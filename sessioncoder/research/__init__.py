"""Research tools over coded sessions: resumable batches, agreement with human coders, rescoring with
corrections, and AnnoMI evaluation. May import every stage and ``report``; only ``cli`` imports it.
"""

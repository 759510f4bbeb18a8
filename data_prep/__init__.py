"""Corpus-to-manifest converters: each reads a corpus in its native layout and writes JSON Lines manifests.

Every converter validates what it reads: audio is checked through its header (durations come from the
header, never by decoding the whole file), and unreadable or unlabelled files are listed in a report
(``skipped.tsv`` beside the manifests) rather than silently dropped.
"""

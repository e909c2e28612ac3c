"""Tests of the stage packages (ranksrgan.data, sr, score, rankdata, ranker, train, report,
status): their library functions and their `ranksrgan <stage> ...` commands."""

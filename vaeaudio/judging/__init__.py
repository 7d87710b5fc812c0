"""Judging what a run learned: scores, the digit classifier, the independent recogniser, evaluate."""

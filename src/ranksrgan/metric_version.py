"""The version of the project's metric implementations, torch-free.

Score and rank-dataset jobs record it (their rules pass it as a param, so a bump reruns them);
the workflow reads it at DAG load without importing ``ranksrgan.metrics`` (which imports torch).
Bump it when an implementation changes its numbers (2: MATLAB-order luma ties).
"""

METRICS_VERSION = "2"

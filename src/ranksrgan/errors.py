"""One exception type whose message is a single line naming the offending file or key."""


class RankSRGANError(Exception):
    """User-facing error: the CLI prints ``error: <message>`` on one line and exits 1.

    Raise it for bad input (missing/corrupt file, wrong checksum, invalid option) with a
    message that names the file or config key; never for programming errors.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class NonFiniteError(RankSRGANError):
    """Numbers that must be finite are NaN or infinite (weights, a network's output)."""


class MetricUndefinedError(RankSRGANError):
    """A metric has no value on this image (e.g. NIQE or Ma on a flat, constant image)."""

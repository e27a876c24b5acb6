"""The one exception type for problems with the user's input.

The CLI prints ``BnnccError`` as a single line on stderr and exits with code 2;
anything else escaping is a bug in bnncc.
"""


class BnnccError(Exception):
    """A user-facing error: bad model, unsupported construct, bad option."""

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class UnsupportedError(BnnccError):
    """The model is valid ONNX but uses something bnncc cannot compile (yet)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type's name): for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

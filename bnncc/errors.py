"""The one exception type for problems with the user's input.

The CLI prints ``BnnccError`` as a single line on stderr and exits with code 2;
anything else escaping is a bug in bnncc.
"""


class BnnccError(Exception):
    """A user-facing error: bad model, unsupported construct, bad option."""

    def __init__(self, message: str, *, where: str | None = None):
        where = shown(where, 160) if where is not None else None
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class UnsupportedError(BnnccError):
    """The model is valid ONNX but uses something bnncc cannot compile (yet)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type's name): for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def shown(text: str, limit: int = 120) -> str:
    """``text`` (a name from the model, a path) fit for a one-line message: control
    characters escaped, at most ``limit`` characters (long names are cut in the middle)."""
    s = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))
    return s if len(s) <= limit else f"{s[: limit // 2 - 2]}...{s[-(limit // 2 - 2):]}"


def one_line(exc: BaseException, limit: int = 600) -> str:
    """The whole message of ``exc`` on one line (control characters escaped), at most
    ``limit`` characters: what the CLI prints."""
    text = str(exc).strip()
    return shown(text, limit) if text else type(exc).__name__

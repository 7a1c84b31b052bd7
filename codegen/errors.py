"""Errors raised while generating or compiling code."""
import os
import tempfile


class CompileError(RuntimeError):
    """Generated code failed to compile or link; the message names the kernel and where its source
    was saved for inspection."""


def save_failed(text, filename: str) -> str:
    """Keep source that failed to compile (text or bytes) in a temp dir that is not deleted, for
    the error message to point at; return its path."""
    path = os.path.join(tempfile.mkdtemp(prefix="graphnn-failed-"), filename)
    mode = "wb" if isinstance(text, bytes) else "w"
    with open(path, mode) as f:
        f.write(text)
    return path

"""Errors raised while generating or compiling code."""


class CompileError(RuntimeError):
    """Generated code failed to compile or link; the message names the kernel and where its source
    was saved for inspection."""

"""The error types that mean "bad input", so that a command line can tell bad input from a bug.

Code that checks input (a config key, a name, a flag, a path, a run directory) raises an
``InputError`` (or a subclass); the CLIs catch only these and print one line (exit 2). Every
other exception is a bug and keeps its traceback, whatever its type: a ``KeyError`` raised in a
hook is not bad input. Each subclass is also the builtin error that such a check used to raise.
"""


class InputError(ValueError):
    """The input cannot be used; the message says what to change."""


class UnknownNameError(InputError, KeyError):
    """A name that no registry or table holds; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError's own str() quotes the message
        return str(self.args[0]) if self.args else ""


class MissingFileError(InputError, FileNotFoundError):
    """A file or folder the input names (a run directory, a checkpoint) is not there."""


class MissingPackageError(InputError, ImportError):
    """An optional package the input asks for is not installed; the message gives its install line."""

"""Errors with a one-line message for the person using deepad: the command line prints them
(exit code 2) and the pages show them, never a traceback. Each names what is wrong (the file,
the setting, the run) and, where it can, what to do."""


class DeepadError(Exception):
    """A failure the user can act on, said in one line."""


class ModelFileError(DeepadError, ValueError):
    """A model or checkpoint file that cannot be used; the message names the file."""


class ExportError(DeepadError, ValueError):
    """The detector has no exportable image network (or this model cannot be exported)."""

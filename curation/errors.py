"""Named exceptions. The CLI turns any ``CurationError`` into one line ``error: ...`` and exit 1."""


class CurationError(Exception):
    """Base of every error caused by the user's data or configuration (CLI exit code 1)."""


class ConfigError(CurationError):
    """curate.toml is missing, unreadable, or holds an unknown key or a wrong value."""


class WorkspaceError(CurationError):
    """A workspace folder is missing, not a workspace, or would be overwritten."""


class SourceError(CurationError):
    """A dump source is missing, unreadable, or not in the format it declares."""


class UnknownFormat(SourceError):
    """A dump's format could not be recognised from its name and contents."""


class SynthError(CurationError):
    """The synthetic board generator was given impossible parameters."""


class ModelUnavailable(CurationError):
    """A model's weights are not on this machine and cannot be downloaded (offline)."""


class WorkspaceLocked(WorkspaceError):
    """Another command holds the workspace's write lock."""


class DamagedFile(WorkspaceError):
    """A catalog or review database does not open: it is named, with what to do, and never rewritten."""


class StageNotRun(CurationError):
    """A stage's input is missing because an earlier stage has not run yet."""


class DumpShrank(SourceError):
    """A full dump would remove most of its posts (an emptied or cut-off file): refused unless --allow-shrink."""

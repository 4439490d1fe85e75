"""Workspace: the directory that holds one station's database, photos, indexes and exports.

Found like git finds a repository: an explicit --home, else $REUNITE_HOME, else the current directory or
the nearest parent holding `reunite.db`. Everything is created private (0700/0600): it is biometric and
health data of vulnerable people.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reunite.errors import WorkspaceError
from reunite.i18n import _

DB_NAME = "reunite.db"
SUBDIRS = ("indexes", "exports", "photos", "logs")
ENV_HOME = "REUNITE_HOME"


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace. Holds no open handles: open the store with `reunite.store.Store.open`."""

    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def indexes(self) -> Path:
        return self.root / "indexes"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def photos(self) -> Path:
        return self.root / "photos"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def private_umask() -> None:
    """Make every file this process creates private to its owner."""
    os.umask(0o077)


def create_workspace(home: Path | None = None) -> Workspace:
    """Create (or complete) the folders of a workspace at `home`, private to its owner. The database is the
    store's to create (reunite.store.init_workspace)."""
    private_umask()
    root = Path(home if home is not None else os.environ.get(ENV_HOME) or Path.cwd()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    for name in SUBDIRS:
        d = root / name
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o700)
    return Workspace(root)


def find_workspace(home: Path | None = None, start: Path | None = None) -> Workspace:
    """Locate an existing workspace or raise WorkspaceError telling the user to run `reunite init`."""
    private_umask()
    explicit = home if home is not None else os.environ.get(ENV_HOME)
    if explicit:
        root = Path(explicit).resolve()
        if not (root / DB_NAME).is_file():
            raise WorkspaceError(
                _("no reunite workspace at {root}, run `reunite init --home {root}`").format(root=root)
            )
        return Workspace(root)
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / DB_NAME).is_file():
            return Workspace(candidate)
    raise WorkspaceError(_("no reunite workspace at {here} (or any parent), run `reunite init`").format(here=here))

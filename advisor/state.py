"""Where advisor keeps its state: the inventory database (snapshots and recorded measurements)."""

from __future__ import annotations

import os
from pathlib import Path


def default_inventory(create: bool = False) -> Path:
    """The inventory when --db is not given: $ADVISOR_INVENTORY, else the platform's state directory
    ($XDG_STATE_HOME/advisor/inventory.db, ~/.local/state/advisor/inventory.db)."""
    if os.environ.get("ADVISOR_INVENTORY"):
        return Path(os.environ["ADVISOR_INVENTORY"])
    base = Path(os.environ["XDG_STATE_HOME"]) if os.environ.get("XDG_STATE_HOME") else Path.home() / ".local" / "state"
    folder = base / "advisor"
    if create:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder / "inventory.db"

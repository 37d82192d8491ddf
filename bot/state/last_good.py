"""A copy of the last knowledge that loaded cleanly, so a broken edit found at start-up cannot take the bot down.

Kept next to the index cache (data/cache/last-good/). Written whole into a fresh folder and then
swapped in by rename, so a crash mid-copy leaves the previous good copy in place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

VERSION_FILE = "VERSION"
INTENTS_NAME = "intents.yaml"


class LastGood:
    """The folder holding the last good knowledge files and their version."""

    def __init__(self, folder: Path) -> None:
        """`folder` is owned by the bot (data/cache/last-good by default)."""
        self.folder = Path(folder)

    @property
    def knowledge_dir(self) -> Path:
        """Where the copied knowledge/*.yaml files are."""
        return self.folder / "knowledge"

    @property
    def intents_file(self) -> Path:
        """Where the copied intents.yaml is."""
        return self.folder / INTENTS_NAME

    def version(self) -> str | None:
        """The knowledge version of the copy, or None when there is none."""
        try:
            return (self.folder / VERSION_FILE).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def exists(self) -> bool:
        """Whether a complete copy is there to start from."""
        return self.version() is not None and self.intents_file.is_file() and self.knowledge_dir.is_dir()

    def save(self, knowledge_dir: Path, intents_file: Path, version: str) -> None:
        """Keep these files as the last good knowledge (skipped when the copy already has this version)."""
        if self.version() == version:
            return
        parent = self.folder.parent
        fresh: Path | None = None
        try:
            parent.mkdir(parents=True, exist_ok=True)
            fresh = Path(tempfile.mkdtemp(dir=parent, prefix=".last-good-"))
            (fresh / "knowledge").mkdir()
            for path in sorted(knowledge_dir.glob("*.y*ml")):
                if path.is_file():
                    shutil.copy2(path, fresh / "knowledge" / path.name)
            shutil.copy2(intents_file, fresh / INTENTS_NAME)
            (fresh / VERSION_FILE).write_text(version + "\n", encoding="utf-8")
            old = parent / f".last-good-old-{os.getpid()}"
            if self.folder.exists():
                os.replace(self.folder, old)
            os.replace(fresh, self.folder)
            fresh = None
            shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:  # a full or read-only disk costs only the fallback, never the answer
            log.warning("could not keep a copy of the good knowledge in %s: %s", self.folder, exc)
        finally:
            if fresh is not None:
                with contextlib.suppress(OSError):
                    shutil.rmtree(fresh)

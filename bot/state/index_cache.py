"""The fitted retrieval index kept on disk, so a warm start needs neither scikit-learn nor a refit.

One ``.npz`` file: the index's arrays plus its JSON metadata. A file is used only when it was
written for the same knowledge version by the same index code (a hash of the core modules that
shape the index), so a changed normaliser never reads an old cache. Any damage means: fit again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import bot.core as core_package

log = logging.getLogger(__name__)

CACHE_FILE = "index.npz"
_SHAPING_MODULES = ("model.py", "text.py", "entities.py", "index.py", "space.py", "segment.py", "spelling.py")


def _code_fingerprint() -> str:
    """Hash of the code that shapes the index, so a changed normaliser never reuses an old cache."""
    folder = Path(core_package.__file__).parent
    digest = hashlib.sha256()
    for name in _SHAPING_MODULES:
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:12]


INDEX_FORMAT = _code_fingerprint()


class IndexCache:
    """Reads and writes the cached index of one folder (next to the SQLite file by default)."""

    def __init__(self, folder: Path) -> None:
        """`folder` also holds jieba's dictionary cache, so it is made here."""
        self.folder = Path(folder)
        with contextlib.suppress(OSError):  # read-only: the index is fitted in memory instead
            self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def path(self) -> Path:
        """The cache file."""
        return self.folder / CACHE_FILE

    def is_current(self, version: str) -> bool:
        """Whether the file holds an index for this knowledge version and code format (read cheaply)."""
        try:
            with np.load(self.path, allow_pickle=False) as npz:
                meta = json.loads(npz["meta"].tobytes().decode("utf-8"))
            return meta.get("format") == INDEX_FORMAT and meta.get("version") == version
        except Exception:  # missing or damaged: not current
            return False

    def load(self, version: str) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """(metadata, arrays) written for this knowledge and code, or None to fit afresh."""
        try:
            with np.load(self.path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
        except FileNotFoundError:
            log.debug("no index cache at %s: building", self.path)
            return None
        except Exception as exc:  # any damage means: fit again, never fail to start
            log.debug("index cache %s unreadable (%s: %s): rebuilding", self.path, type(exc).__name__, exc)
            return None
        if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT or meta.get("version") != version:
            log.debug("index cache %s is stale: rebuilding", self.path)
            return None
        return meta, arrays

    def save(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Write atomically (temp file, then os.replace): a reader sees the old file or the new one."""
        blob = json.dumps({**meta, "format": INDEX_FORMAT}, ensure_ascii=False).encode("utf-8")
        tmp: str | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".index-", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                payload: dict[str, Any] = {"meta": np.frombuffer(blob, dtype=np.uint8), **arrays}
                np.savez(f, **payload)
            os.replace(tmp, self.path)
            tmp = None
        except OSError as exc:  # a read-only or full disk only costs the next start its speed
            log.debug("could not write the index cache in %s: %s", self.folder, exc)
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

"""Notice drafts waiting for review: an uploaded notice, its ingest draft and what the ingest could not place.

Drafts live in a folder of their own (next to the database), never under knowledge/, so the bot
does not answer from a draft before staff publish it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.knowledge.check import Checker, Problem

if TYPE_CHECKING:  # ingest reads Word, PDF and HTML: imported on the first upload, not at every start
    from bot.knowledge.ingest.draft import IngestResult

MAX_UPLOAD = 5 * 1024 * 1024  # bytes of one uploaded notice
_NAME = re.compile(r"[a-z0-9]{12}")


def read_upload(data: bytes, filename: str) -> IngestResult:
    """An uploaded notice (.docx, .pdf, .html or .txt) as an ingest draft with its review report.

    Raises ValueError with a message for staff when the file cannot be read.
    """
    from bot.knowledge.ingest.draft import ingest_file

    if not data.strip():
        raise ValueError("上传的文件是空的。")
    return ingest_file(data, filename)


@dataclass
class Draft:
    """One uploaded notice under review."""

    name: str  # random folder-safe key
    filename: str  # as uploaded
    uploaded_by: str
    uploaded_at: str  # ISO-8601
    title: str = ""
    leftover: list[str] = field(default_factory=list)  # lines the ingest could not place
    notes: list[str] = field(default_factory=list)
    generated: int = 0  # entries marked generated: true, to review
    text: str = ""  # the draft YAML, as last saved

    def problems(self) -> list[Problem]:
        """YAML syntax problems of the draft text (publishing validates the whole knowledge)."""
        checker = Checker("草稿")
        checker.compose(self.text)
        return checker.problems


class Drafts:
    """The drafts folder: save, list, read, update and discard."""

    def __init__(self, folder: Path | str) -> None:
        """The folder is created on the first save."""
        self.folder = Path(folder)

    def create(self, data: bytes, filename: str, who: str, now: dt.datetime) -> Draft:
        """Ingest an uploaded notice and keep the draft for review; ValueError when it cannot be read."""
        result = read_upload(data, filename)
        text = result.yaml()
        draft = Draft(
            name=secrets.token_hex(6),
            filename=Path(filename).name[:200],
            uploaded_by=who,
            uploaded_at=now.isoformat(timespec="seconds"),
            title=str(result.data.get("document", {}).get("title", "")),
            leftover=[str(item) for item in result.leftover],
            notes=list(result.notes),
            generated=text.count("generated: true"),
            text=text,
        )
        self._write(draft)
        return draft

    def all(self) -> list[Draft]:
        """Every draft, newest first."""
        if not self.folder.is_dir():
            return []
        drafts = [d for p in self.folder.glob("*.json") if (d := self.get(p.stem)) is not None]
        return sorted(drafts, key=lambda d: d.uploaded_at, reverse=True)

    def get(self, name: str) -> Draft | None:
        """One draft by name; None for an unknown (or malformed) name."""
        if not _NAME.fullmatch(name):
            return None
        try:
            meta = json.loads((self.folder / f"{name}.json").read_text(encoding="utf-8"))
            meta["text"] = (self.folder / f"{name}.yaml").read_text(encoding="utf-8")
            return Draft(**meta)
        except (OSError, ValueError, TypeError):
            return None

    def update(self, draft: Draft, text: str) -> Draft:
        """Keep the staff member's edits of the draft."""
        draft.text = text
        draft.generated = text.count("generated: true")
        self._write(draft)
        return draft

    def discard(self, name: str) -> bool:
        """Delete a draft; False when it was not there."""
        if not _NAME.fullmatch(name):
            return False
        found = False
        for suffix in (".json", ".yaml"):
            path = self.folder / f"{name}{suffix}"
            if path.exists():
                path.unlink()
                found = True
        return found

    def _write(self, draft: Draft) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = {k: v for k, v in asdict(draft).items() if k != "text"}
        (self.folder / f"{draft.name}.yaml").write_text(draft.text, encoding="utf-8")
        (self.folder / f"{draft.name}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

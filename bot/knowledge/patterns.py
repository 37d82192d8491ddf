"""How a phone number, a mobile and an e-mail address look in a notice: shared by ingest, which finds
them, and by `check`, which compares the copies staff keep of them."""

from __future__ import annotations

import re

PHONE = re.compile(
    r"(?<![0-9A-Za-z_@.-])(?:1[3-9]\d{9}|(?:[（(]0\d{2,3}[)）]\s*|0\d{2,3}\s*[-－—]\s*)?\d{7,8}(?:\s*(?:-|转)\s*\d{1,5})?)(?![0-9A-Za-z_@])"
)
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
EMAIL = re.compile(r"[A-Za-z0-9][\w.+-]*@[\w-]+(?:\.[\w-]+)+")

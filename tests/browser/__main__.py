"""`make test` ends with this: one line saying why browser tests were skipped, nothing when they ran."""

from tests.browser.axe import AXE
from tests.browser.chrome import missing_browser

if reason := missing_browser():
    print(reason)
elif not AXE.exists():
    print(f"accessibility checks skipped: {AXE} missing (npm ci --prefix tests/browser)")

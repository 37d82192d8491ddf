"""axe-core in a real page: any browser test can audit what it has open.

axe-core comes from the npm registry (tests/browser/package.json, installed by `make test` and
.ci/run with `npm ci`); it is injected into the page by Selenium, never shipped with the pages.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.chrome import in_ci

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
# WCAG 2.1 A and AA, which GB/T 37668-2019 follows.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def need_axe() -> str:
    """axe-core's source, or a skip (a failure under CI) saying how to install it."""
    if not AXE.exists():
        reason = f"{AXE} missing: run npm ci --prefix tests/browser"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return AXE.read_text(encoding="utf-8")


def audit(driver: WebDriver, context: str | None = None) -> list[dict]:
    """axe-core's violations on the page as it is now (inside `context`, a CSS selector, if given)."""
    source = need_axe()
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(source)
    result = driver.execute_async_script(
        """
        const [context, tags, done] = arguments;
        axe.run(context || document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
          .then((r) => done(r.violations.map((v) => ({
              id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ': ' + n.failureSummary)}))))
          .catch((e) => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
        """,
        context,
        TAGS,
    )
    return list(result)


def assert_accessible(driver: WebDriver, context: str | None = None, what: str = "page") -> None:
    """Fail on any serious or critical violation, listing each with the elements it names."""
    blocking = [v for v in audit(driver, context) if v["impact"] in BLOCKING]
    lines = [f"{v['impact']} {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in blocking]
    assert not blocking, f"axe-core on the {what}:\n" + "\n".join(lines)

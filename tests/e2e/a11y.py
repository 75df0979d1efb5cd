"""The accessibility check every browser test can call: axe-core (bundled with
axe-playwright-python, injected through the DevTools protocol, so the portal's strict CSP
and the absence of a network do not matter) over the page as it is now.

    from tests.e2e.a11y import assert_accessible
    assert_accessible(ui.page, context="task page at 390 px")

Fails on any violation of impact "serious" or "critical" and lists each one readably:
the rule, its impact, what it means, and the first few offending elements with axe's own
summary of how to fix them.
"""

from __future__ import annotations

from typing import Any

BLOCKING = frozenset({"serious", "critical"})
# WCAG 2.x A and AA rules plus axe's best practices (landmarks, heading order, ...).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
SHOWN_NODES = 5

_axe: Any = None


def _engine() -> Any:
    global _axe
    if _axe is None:
        from axe_playwright_python.sync_playwright import Axe

        _axe = Axe()
    return _axe


def violations(page: Any, include: str | None = None) -> list[dict[str, Any]]:
    """axe's violations of impact serious or critical (optionally within one selector)."""
    options = {"resultTypes": ["violations"], "runOnly": {"type": "tag", "values": TAGS}}
    result = _engine().run(page, context=include, options=options)
    found = result.response.get("violations", [])
    return [v for v in found if v.get("impact") in BLOCKING]


def describe(found: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for violation in found:
        nodes = violation.get("nodes", [])
        lines.append(
            f"- {violation['id']} ({violation.get('impact')}): {violation.get('help')}"
            f" — {len(nodes)} element(s) [{violation.get('helpUrl', '')}]"
        )
        for node in nodes[:SHOWN_NODES]:
            target = " ".join(str(t) for t in node.get("target", []))
            summary = " ".join(str(node.get("failureSummary", "")).split())
            lines.append(f"    {target}: {summary[:300]}")
        if len(nodes) > SHOWN_NODES:
            lines.append(f"    … and {len(nodes) - SHOWN_NODES} more")
    return "\n".join(lines)


def assert_accessible(page: Any, context: str = "", include: str | None = None) -> None:
    """Zero serious or critical axe violations on the page (or within `include`)."""
    found = violations(page, include)
    if found:
        where = context or page.url
        raise AssertionError(
            f"{len(found)} serious/critical accessibility violation(s) on {where}:\n"
            + describe(found)
        )


# Elements wider than the viewport, or sticking out of their card, outside any element
# marked as a scroll region (class "scroll-x": a labelled, focusable region with a cue).
_OVERFLOW_SCRIPT = """
() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  const name = (el) => `${el.tagName.toLowerCase()}${el.className ? "." + String(el.className)
    .split(" ").join(".") : ""}`;
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest(".scroll-x")) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    const style = getComputedStyle(el);
    if (style.position === "fixed" || style.visibility === "hidden") continue;
    if (el.classList.contains("skip-link") || el.closest(".sr-only")) continue;
    if (box.right > width + 1 || box.left < -1) {
      found.push(`${name(el)} (${Math.round(box.left)}..${Math.round(box.right)})`);
      continue;
    }
    const card = el.parentElement && el.parentElement.closest(".card");
    if (card) {
      const outer = card.getBoundingClientRect();
      if (box.right > outer.right + 1 || box.left < outer.left - 1) {
        found.push(`${name(el)} sticks out of its card ${name(card)}`);
      }
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, found: found.slice(0, 8)};
}
"""


def overflow(page: Any) -> list[str]:
    """What sticks out of the viewport, or of its card, sideways (outside a `.scroll-x`
    region): forms stay inside their cards."""
    report = page.evaluate(_OVERFLOW_SCRIPT)
    problems = list(report["found"])
    if report["scrollWidth"] > report["width"] + 1 and not problems:
        problems.append(f"document scrolls sideways ({report['scrollWidth']} > {report['width']})")
    return problems


def assert_fits(page: Any, context: str = "") -> None:
    """Nothing wider than the screen except inside a marked sideways-scroll region
    (dom.js scrollRegion: labelled, keyboard-scrollable, with a visible cue)."""
    wide = overflow(page)
    assert not wide, f"{context or page.url} overflows the viewport: {', '.join(wide)}"

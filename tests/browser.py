"""A page opened in a real browser: Debian's Chromium, driven headless through Playwright (its
own browsers are never downloaded). What a reader would see: the sections, the images that
failed to load, and anything that sticks out of the window."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

CHECK = """() => {
  const width = window.innerWidth;
  const inScroller = (el) => el.closest('.scroll') !== null;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || inScroller(el) && el.tagName !== 'DIV') continue;
    if (box.right > width + 1 || box.left < -1) {
      out.push(el.tagName + ': ' + el.textContent.slice(0, 60));
    }
  }
  // a table wider than its box scrolls sideways inside it: allowed on a narrow screen only
  const scrolled = [...document.querySelectorAll('.scroll')]
    .filter((d) => d.scrollWidth > d.clientWidth + 1)
    .map((d) => d.textContent.slice(0, 60));
  // a cell whose text is wider than the cell (cut off) is overflow too
  for (const td of document.querySelectorAll('td, th')) {
    if (td.scrollWidth > td.clientWidth + 1) out.push('cell: ' + td.textContent.slice(0, 60));
  }
  return {
    sections: [...document.querySelectorAll('h2')].map((h) => h.textContent),
    images: [...document.images].map((i) => [i.alt, i.naturalWidth, i.src.slice(0, 22)]),
    overflowing: out,
    scrolled: scrolled,
    pageWidth: document.documentElement.scrollWidth,
    width: width,
    tables: document.querySelectorAll('table').length,
  };
}"""


@dataclass(frozen=True)
class Rendered:
    sections: list[str]
    images: list[tuple[str, int, str]]  # alt, natural width (0: not loaded), src prefix
    overflowing: list[str]
    scrolled: list[str]  # tables that scroll sideways inside their box
    page_width: int
    width: int
    tables: int


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is not installed: `make browser` installs it"
    return found


def render(page: Path, screenshot: Path | None = None, width: int = 1280) -> Rendered:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": width, "height": 900})
            tab.goto(page.resolve().as_uri(), wait_until="load", timeout=60_000)
            got = tab.evaluate(CHECK)
            if screenshot is not None:
                tab.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return Rendered(
        sections=got["sections"],
        images=[tuple(i) for i in got["images"]],
        overflowing=got["overflowing"],
        scrolled=got["scrolled"],
        page_width=got["pageWidth"],
        width=got["width"],
        tables=got["tables"],
    )

"""The documentation site builds with ``mkdocs build --strict`` (a broken link, cross-reference or
missing page fails it), and in headless Chromium its math is rendered: no raw ``$$`` or ``\\frac``
left in the text of the home page, a derivation page and an API page. Screenshots are saved in
``screenshots/`` beside the built site."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading

import pytest
from paths import REPOSITORY

PAGES = {"home": "index.html", "derivation": "rmsnorm.html", "api": "api/nn.html",
         # the pages with the most formulas: every one must typeset
         "rl": "rl.html", "distillation": "distillation.html", "scaling": "scaling.html",
         "generation": "generation.html", "kernels": "kernels.html"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built strictly into a temporary folder."""
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[docs]' to build the site")
    pytest.importorskip("material", reason="mkdocs-material is not installed: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings[python] is not installed")
    out = tmp_path_factory.mktemp("docs") / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                            cwd=REPOSITORY, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_the_strict_build_writes_every_page_and_no_network_address(site):
    for page in PAGES.values():
        assert (site / page).is_file(), page
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "javascripts/mathjax/tex-chtml.js" in home
    assert "fonts.googleapis" not in home and "cdn.jsdelivr" not in home and "unpkg.com" not in home
    assert (site / "javascripts/mathjax/output/chtml/fonts/woff-v2").is_dir()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built site without a log line per request."""

    def log_message(self, format, *args):
        pass


def _browser():
    """Chromium through Playwright, or a skip that says what is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install -y chromium)")
    return sync_api, executable


def test_math_is_rendered_in_headless_chromium(site):
    sync_api, executable = _browser()
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    screenshots = site.parent / "screenshots"
    screenshots.mkdir(exist_ok=True)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            for name, path in PAGES.items():
                page.goto(f"http://127.0.0.1:{server.server_port}/{path}")
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30000)
                page.evaluate("() => MathJax.startup.promise")
                page.evaluate("() => document.fonts.ready")
                # the article's text outside code: a code span may show TeX on purpose (an answer `\frac{1}{2}`)
                text = page.evaluate("() => { const article = document.querySelector('article').cloneNode(true);"
                                     " article.querySelectorAll('code, pre').forEach(e => e.remove());"
                                     " return article.textContent; }")
                rendered = page.locator("mjx-container").count()
                # typeset but unstyled math takes no room and shows nothing: every formula must have a width,
                # and its glyphs come from MathJax's own web fonts, served from the site
                empty = page.evaluate("() => [...document.querySelectorAll('mjx-container')]"
                                      ".filter(c => c.getBoundingClientRect().width === 0).length")
                fonts = page.evaluate("() => [...document.fonts].filter(f => f.family.startsWith('MJXTEX'))"
                                      ".map(f => [f.family, f.status])")
                page.screenshot(path=str(screenshots / f"{name}.png"), full_page=False)
                assert rendered > 0, f"{path}: no math was typeset"
                assert empty == 0, f"{path}: {empty} of {rendered} formulas take no room (not styled)"
                assert any(status == "loaded" for _, status in fonts), f"{path}: no MathJax font loaded: {fonts}"
                assert all(status != "error" for _, status in fonts), f"{path}: a MathJax font failed: {fonts}"
                assert "$$" not in text and "\\frac" not in text and "\\(" not in text, f"{path}: raw TeX in the page"
            browser.close()
    finally:
        server.shutdown()
    assert sorted(p.name for p in screenshots.iterdir()) == sorted(f"{name}.png" for name in PAGES)

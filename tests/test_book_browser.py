"""The built book in a real headless browser with no network: math typeset, every image loaded.

Builds the book into a temporary folder (the same `_config.yml`, so MathJax is served from the
build's `_static/`, see scripts/offline_mathjax.py), opens the Chapter 3 page in Debian's
`chromium` driven by Selenium through `chromedriver`, with every host name unresolvable (so a CDN
cannot help), and checks what a reader sees.

Needs `chromium` and `chromium-driver` (`apt-get install -y chromium chromium-driver`; `.ci/run`
installs them). Without them the test skips on a developer machine and FAILS where `CI` is set.
`CHROMIUM` and `CHROMEDRIVER` override where the two programs are looked for.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = "notebooks/03_end_to_end.html"  # many formulas and figures
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} -- CI is set, so the browser test must run, not skip")
    pytest.skip(reason)


def _program(env: str, *names: str) -> str | None:
    if os.environ.get(env):
        return os.environ[env] if Path(os.environ[env]).is_file() else None
    for name in names:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser_programs():
    chromium = _program("CHROMIUM", "chromium", "/usr/bin/chromium", "chromium-browser", "google-chrome")
    driver = _program("CHROMEDRIVER", "chromedriver", "/usr/bin/chromedriver")
    missing = [what for what, path in (("chromium", chromium), ("chromedriver", driver)) if not path]
    if missing:
        _unavailable(f"no {' and no '.join(missing)} (apt-get install -y chromium chromium-driver)")
    if importlib.util.find_spec("selenium") is None:
        _unavailable("selenium is not installed (pip install -e '.[dev]')")
    return chromium, driver


@pytest.fixture(scope="module")
def built_book(browser_programs, tmp_path_factory) -> Path:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import offline_mathjax
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    try:
        offline_mathjax.ensure_mathjax()  # cached after the first fetch: the build below is offline
    except RuntimeError as exc:
        _unavailable(str(exc))

    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", "--path-output", str(out), str(ROOT)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    html = out / "_build" / "html"
    assert proc.returncode == 0 and (html / PAGE).is_file(), proc.stdout[-4000:] + proc.stderr[-4000:]
    assert (html / "_static" / offline_mathjax.MATHJAX_ENTRY).is_file(), "MathJax was not copied into _static/"
    return html


# Runs in the page once MathJax has finished: waits for every image and font, then reports.
_INSPECT = r"""
const done = arguments[arguments.length - 1];
(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const t0 = Date.now();
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise && MathJax.version)) {
    if (Date.now() - t0 > 30000) {
      const s = [...document.scripts].find(s => /mathjax/i.test(s.src));
      done({error: "MathJax never started (script: " + (s ? s.src : "none") + ")"}); return;
    }
    await sleep(100);
  }
  await MathJax.startup.promise;
  const imgs = [...document.images];
  imgs.forEach(img => { img.loading = "eager"; });
  await Promise.all(imgs.map(img => img.complete ? null : new Promise(r => {
    img.addEventListener("load", r); img.addEventListener("error", r); setTimeout(r, 20000);
  })));
  void document.body.offsetHeight;  // lay out MathJax's output so that its fonts start loading
  await sleep(200);
  await document.fonts.ready;

  // Visible text outside code and outside MathJax's output.
  const skip = "pre, code, script, style, textarea, mjx-container, .highlight";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip) || el.getClientRects().length === 0) continue;
    const t = n.textContent;
    if (t.includes("\\(") || t.includes("\\[") || t.includes("$$")) raw.push(t.trim().slice(0, 120));
  }
  const math = [...document.querySelectorAll(".math")];
  const mjScript = [...document.scripts].find(s => /tex-chtml/.test(s.src));
  done({
    version: MathJax.version,
    mathjaxSrc: mjScript ? mjScript.src : null,
    containers: document.querySelectorAll("mjx-container").length,
    mathElements: math.length,
    untypeset: math.filter(m => !m.querySelector("mjx-container")).map(m => m.textContent.slice(0, 80)),
    errors: document.querySelectorAll("mjx-merror").length,
    raw: raw,
    images: imgs.map(i => ({src: i.currentSrc || i.src, complete: i.complete, w: i.naturalWidth})),
    fonts: [...document.fonts].filter(f => /^MJX/.test(f.family)).map(f => [f.family, f.status]),
  });
})().catch(e => done({error: String(e)}));
"""


def test_chapter_page_renders_offline(built_book, browser_programs, tmp_path, monkeypatch):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_programs
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not try to download a driver
    opts = Options()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1300,2400",
                # No network at all: every host name fails to resolve, so only local files load.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost"):
        opts.add_argument(arg)
    try:
        driver = webdriver.Chrome(options=opts, service=Service(executable_path=chromedriver))
    except Exception as exc:  # noqa: BLE001 - a browser that does not start is "no browser"
        _unavailable(f"{chromium} with {chromedriver} did not start: {exc}")
    try:
        driver.set_script_timeout(90)
        driver.get((built_book / PAGE).as_uri())
        report = driver.execute_async_script(_INSPECT)
        shot = tmp_path / "page.png"
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()

    where = f"(screenshot: {shot})"
    assert "error" not in report, f"{report['error']} {where}"
    assert report["mathjaxSrc"] and report["mathjaxSrc"].startswith("file:"), report["mathjaxSrc"]
    assert report["mathElements"] > 10, f"Chapter 3 should have many formulas: {report['mathElements']}"
    assert not report["untypeset"], f"math left untypeset: {report['untypeset'][:5]} {where}"
    assert report["containers"] >= report["mathElements"], report
    assert report["errors"] == 0, f"{report['errors']} MathJax errors (mjx-merror) {where}"
    assert not report["raw"], f"raw TeX delimiters in the visible text: {report['raw'][:5]} {where}"
    # MathJax's web fonts come from _static/ too; unused ones stay "unloaded".
    assert any(status == "loaded" for _, status in report["fonts"]), report["fonts"]
    assert not [f for f, status in report["fonts"] if status == "error"], report["fonts"]
    assert report["images"], "Chapter 3 should show figures"
    broken = [i["src"] for i in report["images"] if not (i["complete"] and i["w"] > 0)]
    assert not broken, f"images that did not load: {broken} {where}"

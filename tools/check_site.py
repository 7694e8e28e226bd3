"""Open the built docs site in headless Chromium and check that its key pages render.

`make docs` runs this after `mkdocs build`. It serves build/site on 127.0.0.1, loads the API
index, the tutorial and the display guide in a real browser (scripts run, as for a reader),
checks what each page shows, and saves a screenshot of each under build/screenshots/. The
treescope output on the display guide renders only if its scripts run, so this is the check
that the embedded display works, not just that the HTML is there.

Without a Chromium it prints why it skipped and exits 0, never passing silently: set
NNX_CHROMIUM to a browser binary, or install Debian's `chromium` package.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "site"
SHOTS = ROOT / "build" / "screenshots"
CHECK_PAGE = "/__browser_check__.html"

# page, the text its first heading must hold, and what else must render on it
PAGES = {
    "api/index.html": "API index",
    "tutorial.html": "",
    "display.html": "Displaying models",
}
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Loads each page in a same-origin iframe, waits for its scripts, and writes what rendered
# (including treescope's shadow DOM, which --dump-dom does not serialize) into <pre>.
_CHECKER = """<!doctype html><html><body><pre id="result">pending</pre><script>
const pages = PAGES;
function inspect(url) {
  return new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.width = 1200; frame.height = 900; frame.src = url;
    frame.onload = () => {
      // treescope renders an output only once it is scrolled into view
      frame.contentDocument.querySelectorAll("treescope-container").forEach(
        (t) => t.scrollIntoView());
      let waited = 0;
      const poll = () => {
        const doc = frame.contentDocument;
        const trees = [...doc.querySelectorAll("treescope-container")];
        const loading = trees.some(
          (t) => !t.shadowRoot || /Loading/.test(t.shadowRoot.textContent));
        if (loading && waited < 20000) { waited += 250; setTimeout(poll, 250); return; }
        resolve({
          url: url,
          heading: (doc.querySelector("h1") || {}).textContent || "",
          links: doc.querySelectorAll("article a").length,
          code_blocks: doc.querySelectorAll("article pre").length,
          text: (doc.querySelector("article") || doc.body).innerText.slice(0, 20000),
          treescope: trees.map((t) => t.shadowRoot ? t.shadowRoot.textContent : null),
        });
      };
      poll();
    };
    document.body.appendChild(frame);
  });
}
(async () => {
  const results = [];
  for (const page of pages) results.push(await inspect(page));
  document.getElementById("result").textContent = JSON.stringify(results);
})();
</script></body></html>"""


def find_chromium() -> str | None:
    """The browser to use: NNX_CHROMIUM, else the first Chromium on PATH."""
    explicit = os.environ.get("NNX_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == CHECK_PAGE:
            body = _CHECKER.replace("PAGES", json.dumps(["/" + page for page in PAGES]))
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the summary says what happened


def _chromium(browser: str, profile: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [browser, *_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def check(browser: str) -> list[str]:
    """Render the pages; the problems found (empty when all render)."""
    handler = functools.partial(_Handler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    problems: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as profile:
            dom = _chromium(
                browser, profile, "--virtual-time-budget=60000", "--dump-dom", base + CHECK_PAGE
            )
            match = re.search(r'<pre id="result">(.*?)</pre>', dom.stdout, re.S)
            if not match or match.group(1) == "pending":
                return [f"the browser rendered nothing ({dom.returncode}): {dom.stderr[-2000:]}"]
            import html

            results = json.loads(html.unescape(match.group(1)))
            problems += _judge(results)
            SHOTS.mkdir(parents=True, exist_ok=True)
            for page in PAGES:
                shot = SHOTS / (page.replace("/", "_").removesuffix(".html") + ".png")
                _chromium(
                    browser,
                    profile,
                    "--window-size=1280,2400",
                    "--virtual-time-budget=8000",
                    f"--screenshot={shot}",
                    f"{base}/{page}",
                )
                if not shot.is_file() or shot.stat().st_size < 10_000:
                    problems.append(f"{page}: no screenshot was written to {shot}")
    finally:
        server.shutdown()
    return problems


def _judge(results: list[dict[str, object]]) -> list[str]:
    problems = []
    by_url = {str(result["url"]).lstrip("/"): result for result in results}
    for page, heading in PAGES.items():
        result = by_url[page]
        if not str(result["heading"]).strip() or heading not in str(result["heading"]):
            problems.append(f"{page}: heading {result['heading']!r}, expected {heading!r}")
    index = by_url["api/index.html"]
    if "nnx.Module" not in str(index["text"]) or int(str(index["links"])) < 100:
        problems.append(f"api/index.html: {index['links']} links, expected one per public name")
    tutorial = by_url["tutorial.html"]
    if int(str(tutorial["code_blocks"])) < 10:
        problems.append(f"tutorial.html: {tutorial['code_blocks']} code blocks rendered")
    trees = by_url["display.html"]["treescope"]
    assert isinstance(trees, list)
    if not trees or not all(tree and "Classifier" in tree for tree in trees):
        problems.append(f"display.html: treescope output did not render: {trees!r:.300}")
    return problems


def main() -> int:
    """Check the built site; 1 if a page does not render, 0 if all do or no browser is here."""
    if not (SITE / "index.html").is_file():
        print(f"browser check: no built site at {SITE}: run `make docs`", file=sys.stderr)
        return 1
    browser = find_chromium()
    if browser is None:
        print(
            "browser check SKIPPED: no Chromium here (install Debian's `chromium` package "
            "or set NNX_CHROMIUM to a browser binary)"
        )
        return 0
    problems = check(browser)
    for problem in problems:
        print(f"browser check FAILED: {problem}", file=sys.stderr)
    if not problems:
        shots = ", ".join(sorted(p.name for p in SHOTS.glob("*.png")))
        print(f"browser check passed in {browser}: {', '.join(PAGES)}; screenshots: {shots}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""The built site, checked in headless Chromium as a reader would see it (`make site-test`).

Needs `_build/html` (built by `make book`) and Debian's chromium + chromium-driver.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from _ext import pt20_site

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
pytestmark = pytest.mark.site

TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def toc_files() -> list[str]:
    files = [TOC["root"]]
    for ch in TOC["chapters"]:
        files.append(ch["file"])
        files += [s["file"] for s in ch.get("sections", [])]
    return files


PAGES = toc_files()
CHAPTER_PAGES = [f for f in PAGES if f.startswith("notebooks/")]
# The two editions: where each sits below _build/html, and words every chapter page of it shows.
# (their layout and languages are the site extension's: _ext/pt20_site.py)
EDITIONS = {"en": {**pt20_site.EDITIONS["en"], "headings": ("Self-check", "Exercises")},
            "zh": {**pt20_site.EDITIONS["zh_CN"], "headings": ("自检", "练习")}}
LOCAL_SCHEMES = ("data:", "blob:", "about:", "chrome", "devtools:")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    if not (HTML / "index.html").exists():
        pytest.fail("no site in _build/html: run `make book` first")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def visit(browser: object, url: str) -> None:
    browser.get_log("browser")  # drain logs of the previous page
    browser.get_log("performance")
    browser.get(url)
    time.sleep(0.3)


def scroll_into_view(browser: object, element: object) -> None:
    """Scroll until the element stays in the viewport: figures above it that load lazily while
    the page scrolls push it further down, so one scrollIntoView is not always enough."""
    for _ in range(20):
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        time.sleep(0.25)
        top = browser.execute_script("return arguments[0].getBoundingClientRect().top", element)
        if 0 <= top <= browser.execute_script("return window.innerHeight"):
            return
    pytest.fail("the element never came into view")


def requests_made(browser: object) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_page_loads_without_errors_or_external_requests(browser: object, server: str, edition: str) -> None:
    problems = []
    for page in PAGES:
        visit(browser, f"{server}/{EDITIONS[edition]['dir']}{page}.html")
        if "404" in browser.title or not browser.find_elements("css selector", "main h1"):
            problems.append(f"{page}: did not render a page with a title")
        twin = f"{server}/{EDITIONS['zh' if edition == 'en' else 'en']['dir']}{page}.html"
        switches = [a.get_attribute("href") for a in browser.find_elements("css selector", "a.pt20-language-switch")]
        if switches != [twin]:
            problems.append(f"{page}: language switch {switches}, expected one to {twin}")
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        external = [u for u in requests_made(browser) if not u.startswith((server, *LOCAL_SCHEMES))]
        problems += [f"{page}: console error {e}" for e in errors] + [f"{page}: external request {u}" for u in external]
    assert not problems, "\n".join(problems)
    print(f"{len(PAGES)} pages checked")


@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_chapter_shows_code_outputs_and_figures(browser: object, server: str, page: str, edition: str) -> None:
    visit(browser, f"{server}/{EDITIONS[edition]['dir']}{page}.html")
    assert browser.find_elements("css selector", "div.cell div.cell_input"), "no code cells"
    assert browser.find_elements("css selector", "div.cell div.cell_output"), "no outputs"
    images = browser.find_elements("css selector", "div.cell_output img")
    for img in images:
        width = browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
        assert width and width > 0, f"figure not decoded: {img.get_attribute('src')}"
    text = browser.find_element("css selector", "main").text
    assert all(heading in text for heading in EDITIONS[edition]["headings"])
    assert browser.execute_script("return document.documentElement.lang") == EDITIONS[edition]["lang"]
    assert browser.find_elements("css selector", "a.right-next, a.left-prev"), "no previous/next links"
    downloads = [a.get_attribute("href") or "" for a in browser.find_elements("css selector", "a[href$='.ipynb']")]
    assert any(page.split("/")[-1] in h for h in downloads), "no .ipynb download link"


def test_figures_exist_on_training_chapters(browser: object, server: str) -> None:
    with_figures = 0
    for page in CHAPTER_PAGES:
        visit(browser, f"{server}/{page}.html")
        with_figures += bool(browser.find_elements("css selector", "div.cell_output img"))
    assert with_figures >= len(CHAPTER_PAGES) // 2, f"only {with_figures} chapter pages show figures"


@pytest.mark.parametrize("edition", EDITIONS)
def test_math_is_typeset_offline(browser: object, server: str, edition: str) -> None:
    for page in CHAPTER_PAGES:
        visit(browser, f"{server}/{EDITIONS[edition]['dir']}{page}.html")
        if browser.find_elements("css selector", "span.math, div.math"):
            time.sleep(1.0)
            assert browser.find_elements("css selector", "mjx-container"), f"{page}: math not typeset"
            return
    pytest.fail("no chapter contains math to typeset")


def search(browser: object, url: str) -> list[str]:
    """Every result of a search, once Sphinx has listed them all (it shows them one by one, then
    writes its summary)."""
    browser.get(url)
    for _ in range(80):
        if any(e.text.strip() for e in browser.find_elements("css selector", "p.search-summary")):
            break
        time.sleep(0.25)
    return [a.get_attribute("href") or "" for a in browser.find_elements("css selector", "ul.search li a")]


def test_search_finds_a_chapter(browser: object, server: str) -> None:
    links = search(browser, f"{server}/search.html?q=Titanic")
    assert any("1-1-structured-data" in h for h in links), links


@pytest.mark.parametrize("word, chapter", [("张量", "2-1-tensors"), ("自动微分", "2-2-autograd"),
                                           ("过拟合", "1-1-structured-data")])
def test_chinese_search_finds_chinese_words(browser: object, server: str, word: str, chapter: str) -> None:
    """Sphinx segments Chinese text into words with jieba (a requirement): without it a word like
    自动微分 is no entry of the index and the search finds nothing."""
    links = search(browser, f"{server}/zh/search.html?q={word}")
    assert any(f"/zh/notebooks/{chapter}.html" in h for h in links), links


@pytest.mark.parametrize("edition", EDITIONS)
def test_language_switch_lands_on_the_same_page(browser: object, server: str, edition: str) -> None:
    other = next(e for e in EDITIONS if e != edition)
    for page in ["book/index", CHAPTER_PAGES[5], "search"]:
        visit(browser, f"{server}/{EDITIONS[edition]['dir']}{page}.html")
        switch = browser.find_element("css selector", "a.pt20-language-switch")
        assert switch.is_displayed(), f"{page}: no visible language switch"
        switch.click()
        time.sleep(0.5)
        assert browser.current_url == f"{server}/{EDITIONS[other]['dir']}{page}.html"
        assert browser.execute_script("return document.documentElement.lang") == EDITIONS[other]["lang"]


def test_exercise_solution_opens_on_click(browser: object, server: str) -> None:
    visit(browser, f"{server}/{CHAPTER_PAGES[0]}.html")
    solution = browser.find_element("css selector", ".solution.dropdown, .solution.toggle, details.solution")
    body = solution.find_elements("css selector", ".cell, .solution-content, section")
    hidden_before = not any(b.is_displayed() for b in body)
    button = solution.find_element("css selector", "button.toggle-button, summary, .toggle-button")
    scroll_into_view(browser, button)
    button.click()
    time.sleep(0.5)
    assert hidden_before, "solutions must start collapsed"
    assert any(b.is_displayed() for b in solution.find_elements("css selector", ".cell, .solution-content, section"))


def test_navigation_toggle_and_a_single_search_box(browser: object, server: str) -> None:
    # sphinx-book-theme 1.3 with pydata-sphinx-theme 0.17 added a second search bar on top and a
    # hidden duplicate toggle that swallowed the visible one's clicks: requirements.txt pins the pair.
    visit(browser, f"{server}/{CHAPTER_PAGES[0]}.html")
    searches = [e for e in browser.find_elements("css selector", ".search-button-field, .search-button")
                if e.is_displayed()]
    assert len(searches) == 1, f"{len(searches)} search controls on the page"
    sidebar = browser.find_element("css selector", ".bd-sidebar-primary")
    toggle = next(e for e in browser.find_elements("css selector", ".primary-toggle") if e.is_displayed())
    shown = [sidebar.is_displayed()]
    for _ in range(2):
        toggle.click()
        time.sleep(0.5)
        shown.append(sidebar.is_displayed())
    assert shown == [True, False, True], f"sidebar visibility on load and after two clicks: {shown}"


def test_dark_mode_switch(browser: object, server: str) -> None:
    visit(browser, f"{server}/book/index.html")
    before = browser.execute_script("return document.documentElement.dataset.theme")
    browser.find_element("css selector", ".theme-switch-button").click()
    after = browser.execute_script("return document.documentElement.dataset.theme")
    assert before != after


def test_launch_buttons_only_for_a_published_book(browser: object, server: str) -> None:
    """Before `repository.url` names a real repository, a launch button could only lead to an error page."""
    import yaml

    published = bool(yaml.safe_load((ROOT / "_config.yml").read_text())["repository"].get("url"))
    visit(browser, f"{server}/{CHAPTER_PAGES[0]}.html")
    hrefs = [a.get_attribute("href") or "" for a in browser.find_elements("css selector", "a")]
    launch = [h for h in hrefs if "colab.research.google.com" in h or "mybinder.org" in h]
    if published:
        assert launch and all(h.endswith(".ipynb") for h in launch), launch
    else:
        assert not launch, f"launch buttons on an unpublished book: {launch}"
        assert not browser.find_elements("css selector", ".fa-github"), "a repository button on an unpublished book"


@pytest.mark.parametrize("edition", EDITIONS)
def test_all_notebooks_zip_is_offered(edition: str) -> None:
    archive = zipfile.ZipFile(HTML / EDITIONS[edition]["dir"] / pt20_site.ZIP_NAME)
    names = [n for n in archive.namelist() if n.endswith(".ipynb")]
    assert len(names) == len(CHAPTER_PAGES)
    # 6-3 launches book/scripts/ddp_linear.py; run from the unpacked zip it looks in scripts/
    assert "pytorch-in-20-days/scripts/ddp_linear.py" in archive.namelist()
    cells = json.loads(archive.read(names[0]))["cells"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert ("小结" in prose) == (edition == "zh"), "each edition's zip holds that edition's notebooks"


def test_chinese_pages_offer_the_chinese_notebook_with_the_english_code_and_outputs() -> None:
    for page in CHAPTER_PAGES:
        english = json.loads((ROOT / f"{page}.ipynb").read_text())
        chinese = json.loads((HTML / "zh" / "_sources" / f"{page}.ipynb").read_text())
        assert [c.get("outputs") for c in chinese["cells"]] == [c.get("outputs") for c in english["cells"]]
        assert "自检" in "".join("".join(c["source"]) for c in chinese["cells"] if c["cell_type"] == "markdown")


def test_external_links_are_listed_for_an_online_check() -> None:
    """Offline we cannot follow them; list them (`_build/external-links.txt`) for `make linkcheck`."""
    import re

    links = set()
    for page in HTML.rglob("*.html"):
        links |= set(re.findall(r'href="(https?://[^"#]+)', page.read_text(errors="ignore")))
    # a reader's own local servers (e.g. TensorBoard on localhost:6006) are not links to check
    links = {u for u in links if not re.match(r"https?://(127\.|localhost)", u)}
    (ROOT / "_build" / "external-links.txt").write_text("\n".join(sorted(links)) + "\n")
    assert links, "the site cites its sources: there must be external links to list"
    assert all(u.startswith("https://") or u.startswith("http://yann.lecun.com") for u in links), links


def test_screenshots(browser: object, server: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, page in [("front", "book/index"), ("chapter", CHAPTER_PAGES[0]), ("zh-front", "zh/book/index"),
                       ("zh-chapter", f"zh/{CHAPTER_PAGES[5]}"), ("zh-status", "zh/book/status")]:
        visit(browser, f"{server}/{page}.html")
        browser.execute_script("document.documentElement.dataset.theme = 'light'")  # after the dark-mode test
        path = SHOTS / f"{name}.png"
        browser.save_screenshot(str(path))
        assert path.stat().st_size > 10_000

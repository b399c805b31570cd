"""The report in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by selenium.

Checks that the page loads with no console errors and no network requests,
that the charts and timeline render, that clicking a timestamp moves the
audio, that filtering hides other chips, that redaction hides a known name,
and saves a screenshot to test-artifacts/report.png.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from test_report_sample import CLIENT_NAME, make_codebook, make_session, write_wav

from sessioncoder.fileio import write_text_atomic
from sessioncoder.report.html import render_html

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("SESSIONCODER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SESSIONCODER_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROME_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
    "--autoplay-policy=no-user-gesture-required",
]


def _find(path: str, name: str) -> str | None:
    return path if Path(path).is_file() else shutil.which(name)


@pytest.fixture(scope="module")
def driver():
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
    )
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = _find(CHROMIUM, "chromium"), _find(CHROMEDRIVER, "chromedriver")
    if not chromium or not chromedriver:
        pytest.skip(
            "Chromium is not installed (apt-get install chromium chromium-driver); cannot run browser tests"
        )
    profile_dir = tempfile.mkdtemp(prefix="sessioncoder-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROME_FLAGS, f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
    browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()
    shutil.rmtree(profile_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A realistic session with a short recording, the report one folder away (audio by relative path)."""
    root = tmp_path_factory.mktemp("browser")
    wav = write_wav(root / "recording.wav", seconds=20.0)
    session = make_session(audio_path=wav, audio_seconds=20.0)
    out = root / "reports" / "recording.html"
    out.parent.mkdir()
    href = os.path.relpath(wav, out.parent)
    write_text_atomic(out, render_html(session, make_codebook(), audio_href=href))
    return out


def _open(driver, path: Path) -> None:
    driver.get_log("browser")  # drop what earlier pages left
    driver.get_log("performance")
    driver.get(path.as_uri())
    driver.execute_script("return document.readyState")


def _requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _wait(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_loads_without_console_errors_or_network(driver, report):
    _open(driver, report)
    _wait(lambda: driver.execute_script("return document.getElementById('audio').readyState >= 1"))
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not errors, errors
    urls = _requested_urls(driver)
    assert urls, "the performance log recorded no requests at all (is CDP network logging on?)"
    assert any(u.endswith("recording.wav") for u in urls)
    # Only schemes that leave the machine count: Chromium's own pages (its new-tab page's
    # chrome:// resources, logged from the first window) are served from inside the browser.
    offending = [u for u in urls if u.split(":", 1)[0].lower() in ("http", "https", "ws", "wss", "ftp")]
    assert not offending, f"network requests from the report: {offending}"


def test_charts_and_timeline_have_size(driver, report):
    _open(driver, report)
    sizes = driver.execute_script(
        "return Array.from(document.querySelectorAll('svg.chart, svg.timeline')).map(function (s) {"
        "  var r = s.getBoundingClientRect(); return [s.getAttribute('class'), r.width, r.height]; })"
    )
    assert len([s for s in sizes if "chart" in s[0]]) >= 5
    assert any("timeline" in s[0] for s in sizes)
    for cls, width, height in sizes:
        assert width > 50 and height > 10, (cls, width, height)
    bars = driver.execute_script(
        "return Array.from(document.querySelectorAll('svg.chart rect.bar')).filter(function (r) {"
        "  var b = r.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length"
    )
    assert bars >= 8
    turns = driver.execute_script("return document.querySelectorAll('svg.timeline rect.turn').length")
    assert turns == len(make_session().utterances)


def test_clicking_a_timestamp_seeks_the_audio(driver, report):
    _open(driver, report)
    _wait(lambda: driver.execute_script("return document.getElementById('audio').readyState >= 1"))
    link = driver.find_elements("css selector", "#strengths .card .ts")[-1]
    target = float(link.get_attribute("data-t"))
    assert target > 2.0
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()
    current = driver.execute_script("return document.getElementById('audio').currentTime")
    assert current == pytest.approx(target, abs=0.3)
    # Clicking a transcript line seeks too, and marks that line as playing.
    line = driver.find_element("css selector", "#u12 .text")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", line)
    line.click()
    expected = float(driver.find_element("css selector", "#u12").get_attribute("data-t"))
    assert driver.execute_script("return document.getElementById('audio').currentTime") == pytest.approx(
        expected, abs=0.3
    )
    assert "playing" in driver.find_element("css selector", "#u12").get_attribute("class")


def test_filtering_hides_other_chips(driver, report):
    from selenium.webdriver.support.ui import Select

    _open(driver, report)
    Select(driver.find_element("id", "f-code")).select_by_value("mi.open_question")
    state = driver.execute_script(
        "return Array.from(document.querySelectorAll('.utt')).map(function (u) {"
        "  return [u.offsetParent !== null, Array.from(u.querySelectorAll('.chip')).filter(function (c) {"
        "    return c.offsetParent !== null; }).map(function (c) { return c.dataset.code; })]; })"
    )
    visible = [chips for shown, chips in state if shown]
    expected = sum(1 for u in make_session().utterances if u.has("mi.open_question"))
    assert len(visible) == expected > 0
    assert all(chips == ["mi.open_question"] for chips in visible)
    assert f"{expected} of {len(state)} lines shown" in driver.find_element("id", "f-count").text
    # Group filter and search; then clear restores everything.
    driver.find_element("id", "f-clear").click()
    search = driver.find_element("id", "f-search")
    search.send_keys("brother")
    shown = driver.execute_script("return document.querySelectorAll('.utt:not(.is-hidden)').length")
    assert shown == sum(1 for u in make_session().utterances if "brother" in u.text.lower())
    driver.find_element("id", "f-clear").click()
    Select(driver.find_element("id", "f-group")).select_by_value("cognitive")
    chips = driver.execute_script(
        "return Array.from(document.querySelectorAll('.utt .chip')).filter(function (c) {"
        "  return c.offsetParent !== null; }).map(function (c) { return c.dataset.group; })"
    )
    assert chips and set(chips) == {"cognitive"}


def test_redaction_removes_the_name_from_visible_text(driver, tmp_path):
    from sessioncoder.report.redact import Redactor

    session = make_session()
    plain = tmp_path / "plain.html"
    write_text_atomic(plain, render_html(session, make_codebook()))
    _open(driver, plain)
    assert CLIENT_NAME in driver.find_element("tag name", "body").text  # the check below can fail
    redacted = tmp_path / "redacted.html"
    write_text_atomic(redacted, render_html(session, make_codebook(), redactor=Redactor()))
    _open(driver, redacted)
    text = driver.find_element("tag name", "body").text
    assert CLIENT_NAME not in text and "Acacia Road" not in text
    assert "[NAME]" in text
    assert not driver.get_log("browser")


def test_screenshot_is_saved(driver, report):
    _open(driver, report)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 800), 8000))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    driver.set_window_size(1280, 1600)

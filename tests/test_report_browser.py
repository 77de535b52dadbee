"""`archdsl report` pages opened in headless Chromium: expand, select, click the spec.

Marked `browser`; skipped where Chromium, its driver or Selenium is missing
(.ci/run installs Debian's chromium and chromium-driver). Screenshots go to a
temporary folder whose path is printed (pytest -s shows it)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

import archdsl
from archdsl.report import render_report
from conftest import SPECS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium")
By = pytest.importorskip("selenium.webdriver.common.by").By

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,  # a browser start and the largest spec's page: out of the fast subset
    pytest.mark.skipif(not (CHROMIUM and DRIVER),
                       reason="needs chromium and chromedriver (apt install chromium "
                              "chromium-driver)"),
    pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot"),
]

# What Chromium needs here: no sandbox (root in a container), no GPU, no calls home.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1400,900")


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="archdsl-report-shots-"))
    print(f"\nreport screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def _open(browser, tmp_path: Path, archs, **kwargs) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report(archs, **kwargs))
    browser.get(page.as_uri())
    browser.get_log("performance")  # only what this page did from here on
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def _box(browser, key: str):
    return browser.find_element(By.CSS_SELECTOR, f'#graph .box[data-id="{key}"]')


def _field(browser, name: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, f'#detail tr[data-field="{name}"] td + td').text


def _lit(browser) -> list[int]:
    return [int(e.get_attribute("data-line"))
            for e in browser.find_elements(By.CSS_SELECTOR, "#spec div.lit")]


def _requests(browser) -> list[str]:
    """Every URL the page asked for: resource timing, and the driver's network log."""
    names = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    names.append(browser.execute_script("return location.href"))
    for entry in browser.get_log("performance"):
        if '"Network.requestWillBeSent"' in entry["message"]:
            import json

            names.append(json.loads(entry["message"])["message"]["params"]["request"]["url"])
    return names


def test_expand_select_and_spec_lines(browser, tmp_path, shots):
    _open(browser, tmp_path, [archdsl.load(SPECS / "resnet18.yaml")])
    assert browser.find_elements(By.CSS_SELECTOR, '#graph .box[data-id="layer2.0.conv1"]') == []
    browser.find_element(By.CSS_SELECTOR, '[data-open="layer2"]').click()  # the stage
    browser.find_element(By.CSS_SELECTOR, '[data-open="layer2.0"]').click()  # its first block
    _box(browser, "layer2.0.conv1").click()
    assert _field(browser, "shape") == "(128, 28, 28)"
    assert _field(browser, "params") == "73,728"
    line = int(_field(browser, "spec").rsplit(":", 1)[1])
    assert _lit(browser) == [line]
    text = browser.find_element(By.CSS_SELECTOR, f'#spec div[data-line="{line}"]').text
    assert "conv1: conv(planes * k, 3" in text
    browser.save_screenshot(str(shots / "resnet18-block.png"))

    # A click on the line of a network-level layer opens the network and selects it.
    fc_line = next(int(e.get_attribute("data-line"))
                   for e in browser.find_elements(By.CSS_SELECTOR, "#spec div")
                   if "fc: linear" in e.text)
    browser.find_element(By.CSS_SELECTOR, f'#spec div[data-line="{fc_line}"]').click()
    assert "selected" in _box(browser, "fc").get_attribute("class")
    assert _field(browser, "name") == "fc" and _field(browser, "shape") == "(1000)"
    assert _lit(browser) == [fc_line]
    browser.save_screenshot(str(shots / "resnet18-network.png"))
    assert all(u.startswith(("file:", "data:", "about:")) for u in _requests(browser))


def test_diff_colours(browser, tmp_path, shots):
    a, b = archdsl.load(SPECS / "resnet18.yaml"), archdsl.load(SPECS / "resnet34.yaml")
    _open(browser, tmp_path, [a, b])
    browser.find_element(By.CSS_SELECTOR, '[data-open="layer1"]').click()
    assert "new" in _box(browser, "layer1.2").get_attribute("class")
    assert "same" not in _box(browser, "layer1.0").get_attribute("class")
    assert "new" not in _box(browser, "layer1.0").get_attribute("class")
    report = browser.find_element(By.ID, "diff-report").text
    assert "Weight transfer" in report and "layer1.2.conv1.weight" in report
    browser.save_screenshot(str(shots / "resnet18-34-diff.png"))
    browser.find_element(By.CSS_SELECTOR, '#tabs button[data-net="0"]').click()
    assert browser.find_elements(By.CSS_SELECTOR, '#graph .box[data-id="layer1.2"]') == []
    assert all(u.startswith(("file:", "data:", "about:")) for u in _requests(browser))


def test_compare_chart(browser, tmp_path, shots):
    archs = [archdsl.load(SPECS / f"{n}.yaml") for n in ("resnet18", "resnet50", "alexnet")]
    _open(browser, tmp_path, archs, compare=True)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart svg circle")) == 3
    browser.find_element(By.CSS_SELECTOR, "#chart svg").screenshot(str(shots / "compare-chart.png"))


def test_largest_spec_expands(browser, tmp_path, shots):
    _open(browser, tmp_path, [archdsl.load(SPECS / "preact_resnet1001.yaml")])
    assert len(browser.find_elements(By.CSS_SELECTOR, "#graph .box")) < 12  # collapsed
    browser.find_element(By.CSS_SELECTOR, '[data-open="layer3"]').click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#graph .box.scope")) == 111
    browser.find_element(By.CSS_SELECTOR, '[data-open="layer3.110"]').click()
    _box(browser, "layer3.110.conv3").click()
    assert _field(browser, "shape") == "(256, 8, 8)"
    browser.save_screenshot(str(shots / "preact_resnet1001-block.png"))

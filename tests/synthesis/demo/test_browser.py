"""The demo as a person uses it, in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) opens the page, uploads a picture, picks a domain,
presses Translate and gets the result; a bad upload gets a message in the page.

Skipped where no Chromium or chromedriver is installed (``.ci/run`` installs both). With
``STARGANV2_DEMO_SCREENSHOT=path.png`` the page with its result is also saved there.
"""

from __future__ import annotations

import io
import os
import shutil
import urllib.request

import numpy as np
import pytest
from PIL import Image

from starganv2.models.registry import load_model
from starganv2.synthesis.demo.engine import DemoEngine
from tests.synthesis.demo.conftest import write_picture
from tests.synthesis.demo.serve import served

pytest.importorskip("gradio")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from starganv2.synthesis.demo.app import build_app  # noqa: E402

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver)",
    ),
]


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1800"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def app(v2_ckpt, tmp_path_factory):
    folder = tmp_path_factory.mktemp("examples")
    examples = [
        (str(write_picture(folder / f"{d}{i}.png", 64, 64, seed=10 * k + i)), d)
        for k, d in enumerate(("cat", "dog"))
        for i in range(2)
    ]
    return build_app(DemoEngine(load_model(v2_ckpt), ["cat", "dog"]), examples=examples)


def find(driver, css, timeout=60):
    """The first element matching ``css`` once there is one."""
    WebDriverWait(driver, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))
    return driver.find_element(By.CSS_SELECTOR, css)


def choose(driver, dropdown_id, option):
    find(driver, f"#{dropdown_id} input").click()
    find(driver, f'#{dropdown_id} li[data-testid="dropdown-option"][aria-label="{option}"]').click()
    WebDriverWait(driver, 10).until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, f"#{dropdown_id} input").get_attribute("value")
            == option
        )
    )


def test_upload_pick_a_domain_translate_and_get_the_result(browser, app, tmp_path):
    src = write_picture(tmp_path / "holiday.png", 90, 60)
    with served(app) as url:
        browser.get(url)
        find(browser, "#source input[type=file]").send_keys(str(src))
        find(browser, "#view img")  # the page shows what the model sees
        choose(browser, "target", "dog")
        find(browser, "#translate").click()
        result = find(browser, "#results img")
        WebDriverWait(browser, 60).until(
            lambda d: "image(s)" in d.find_element(By.CSS_SELECTOR, "#status").text
        )
        status = browser.find_element(By.CSS_SELECTOR, "#status").text
        with urllib.request.urlopen(result.get_attribute("src"), timeout=30) as response:
            got = Image.open(io.BytesIO(response.read())).convert("RGB")
        shot = tmp_path / "page.png"
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(shot))
    assert got.size == (90, 60)
    diff = np.abs(np.asarray(got, dtype=np.int16) - np.asarray(Image.open(src), dtype=np.int16))
    assert diff.mean() > 5
    assert status.startswith("1 image(s) of dog, 90x60 px, in ") and " s (32 px model" in status
    assert Image.open(shot).size[0] > 0
    if os.environ.get("STARGANV2_DEMO_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["STARGANV2_DEMO_SCREENSHOT"])


def test_a_file_that_is_no_picture_gets_a_message_in_the_page(browser, app, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is text")
    good = write_picture(tmp_path / "good.png", 40, 40)
    with served(app) as url:
        browser.get(url)
        find(browser, "#source input[type=file]").send_keys(str(bad))
        find(browser, "#translate").click()
        WebDriverWait(browser, 60).until(
            lambda d: "notes.png is not an image" in d.find_element(By.TAG_NAME, "body").text
        )
        # the server still answers: a good picture goes through
        browser.get(url)
        find(browser, "#source input[type=file]").send_keys(str(good))
        find(browser, "#translate").click()
        find(browser, "#results img")

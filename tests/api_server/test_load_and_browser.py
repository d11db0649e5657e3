"""A real server on 127.0.0.1: 50 concurrent good and bad requests, and the web page driven by a headless chromium."""
import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from serving_fixtures import ServerThread, shared_paragraphs, shared_small_model

from text_recognizer.api_server import load_test
from text_recognizer.api_server.app import Settings, create_app
from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer

CONCURRENT_REQUESTS = 50
MAX_RSS_GROWTH_MB = 400
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def paragraphs(tmp_path_factory):
    return shared_paragraphs(tmp_path_factory)[0][:2]


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    return ParagraphTextRecognizer(shared_small_model(tmp_path_factory), backend="onnx")


@pytest.fixture(scope="module")
def server(recognizer):
    settings = Settings(model_path=recognizer.model_path, max_in_flight=CONCURRENT_REQUESTS + 14, max_pixels=4_000_000)
    with ServerThread(create_app(settings, recognizer=recognizer)) as server:
        yield server


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_fifty_concurrent_good_and_bad_requests(server, recognizer, paragraphs):
    import httpx

    good = [(path.name, path.read_bytes()) for path in paragraphs]
    expected = {name: recognizer.predict(path) for (name, _), path in zip(good, paragraphs)}
    bad = [("empty.png", b""), ("text.png", b"not an image"), ("cut.png", good[0][1][:200]),
           ("bomb.png", png(Image.new("1", (3000, 3000))))]
    uploads = [good[0], bad[0], good[1], bad[1], good[0], bad[2], good[1], bad[3]]
    load_test.run(server.url, good, clients=2, requests=2)  # warm-up
    before = rss_mb()
    results = load_test.run(server.url, uploads, clients=CONCURRENT_REQUESTS, requests=CONCURRENT_REQUESTS)
    growth = rss_mb() - before
    for i, result in enumerate(results):
        name, _ = uploads[i % len(uploads)]
        if name in expected:
            assert result.status == 200 and result.body["text"] == expected[name], (name, result)
        else:
            assert 400 <= result.status < 500 and result.body["error"]["message"], (name, result)
    assert growth < MAX_RSS_GROWTH_MB, f"the server grew by {growth:.0f} MB"
    health = httpx.get(f"{server.url}/healthz").json()
    assert health["status"] == "ok" and health["in_flight"] == 0
    latencies = sorted(r.seconds for r in results)
    print(f"\n{CONCURRENT_REQUESTS} concurrent: p50 {latencies[len(latencies) // 2] * 1e3:.0f} ms, "
          f"max {latencies[-1] * 1e3:.0f} ms, RSS +{growth:.0f} MB")


def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        message = "chromium and chromium-driver are not installed (make install installs them as root: apt)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run this test, never skip it
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def test_the_web_page_reads_an_uploaded_paragraph_in_a_real_browser(server, recognizer, paragraphs, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    expected = recognizer.predict_batch([paragraphs[0]])[0]
    driver = browser()
    try:
        driver.get(server.url + "/")
        assert "Handwriting" in driver.title
        driver.find_element(By.ID, "file").send_keys(str(paragraphs[0]))
        WebDriverWait(driver, 120).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done")
        text = driver.execute_script("return document.getElementById('text').textContent")
        assert text == expected.text
        assert f"{expected.confidence:.2f}" in driver.find_element(By.ID, "confidence").text
        low = "low" in (driver.find_element(By.ID, "text").get_attribute("class") or "")
        threshold = driver.execute_script("return LOW_CONFIDENCE")
        assert low == (expected.confidence < threshold)  # doubtful text is marked
        # the uploaded image with each line's box drawn on it, in its own pixels
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "boxes").is_displayed())
        boxes = driver.find_element(By.ID, "boxes")
        assert boxes.get_attribute("data-lines") == str(len(expected.lines))
        width, height = driver.execute_script("const c = document.getElementById('boxes'); return [c.width, c.height]")
        assert (width, height) == expected.image_size
        # each line with its confidence, the doubtful ones marked
        items = driver.find_elements(By.CSS_SELECTOR, "#lines li")
        assert len(items) == len(expected.lines)
        for item, line in zip(items, expected.lines):
            assert f"{line.confidence:.2f}" in item.text and line.text in item.text
            assert ("low" in (item.get_attribute("class") or "")) == (line.confidence < threshold)
        # text, PAGE and ALTO downloads offered
        for name in ("download-text", "download-page", "download-alto"):
            assert driver.find_element(By.ID, name).is_enabled()
        # what the model read is shown, its lines boxed: as many as the recognizer cuts the page into
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "read").is_displayed())
        lines = driver.find_element(By.ID, "read").get_attribute("data-lines")
        assert lines == str(len(recognizer.prepare(paragraphs[0]).boxes))
        driver.find_element(By.ID, "copy").click()
        shot = Path(os.environ.get("SERVING_SCREENSHOT", tmp_path / "page.png"))
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 1000
    finally:
        driver.quit()


def test_the_api_docs_render_offline_and_let_one_choose_a_file_to_upload(server):
    """Swagger UI came from a CDN (a blank /docs offline) and /v1/recognize declared no body ("Try it out"
    had nothing to upload): issue 34. Here the machine has no network: the page renders from the server's
    files, and trying /v1/recognize out offers a file input."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    try:
        driver.get(server.url + "/docs")
        operation = WebDriverWait(driver, 60).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "[id^='operations-'][id*='recognize']"))
        operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
        WebDriverWait(driver, 30).until(lambda d: operation.find_element(By.CSS_SELECTOR, ".try-out__btn")).click()
        chooser = WebDriverWait(driver, 30).until(lambda d: operation.find_element(By.CSS_SELECTOR, "input[type='file']"))
        assert chooser.is_displayed()
        loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(name.startswith(server.url) for name in loaded), loaded  # nothing from elsewhere
    finally:
        driver.quit()

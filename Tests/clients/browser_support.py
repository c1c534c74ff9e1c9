"""What the browser tests share: headless Chromium (Debian's chromium and chromium-driver) through selenium,
failing with what was seen, and waiting for a condition."""
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def wait_for(description, condition, seconds=30, retry_errors=False):
    """The condition's first truthy value; with retry_errors, an exception (an element replaced while it was
    read: live pages redraw) counts as not yet."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            value = condition()
        except Exception:
            if not retry_errors:
                raise
            value = None
        if value:
            return value
        time.sleep(0.25)
    fail(f"timed out after {seconds} s waiting for {description}")


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def run_in_chromium(run, window="1500,1300"):
    """Calls run(driver, base_url, screenshot_dir) with the command line's BASE_URL and SCREENSHOT_DIR."""
    base, shots = sys.argv[1].rstrip("/"), sys.argv[2]
    os.makedirs(shots, exist_ok=True)
    options = Options()
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={window}"]:
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        run(driver, base, shots)
    finally:
        driver.quit()

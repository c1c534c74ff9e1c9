#!/usr/bin/env python3
"""The order board in a real browser: headless Chromium (Debian's chromium and chromium-driver) driven by
selenium, against `eventlog serve --http … --services`.

usage: services_browser.py BASE_URL SCREENSHOT_DIR [prices ITEM]

Checks, each printed as it passes; the first failure exits 1 with what was seen:
- the board loads and goes live, with no console errors;
- an order placed with the page's form appears and ends COMPLETED, its saga inspector listing the six steps;
- an order for more than any location stocks (placed over HTTP) ends COMPENSATED with "out of stock", and
  its inspector shows the authorization released (compensating, step 2);
- screenshots of both states.
With `prices ITEM`: the price-change page shows ITEM's change arriving with its elapsed time, and changes the
receiving service made itself as skipped.
"""
import json
import os
import sys
import urllib.request

from selenium.webdriver.common.by import By

from browser_support import console_errors, fail, run_in_chromium, wait_for


def wait(description, condition, seconds=30):
    """wait_for, tolerating elements replaced while read (the board redraws twice a second)."""
    return wait_for(description, condition, seconds, retry_errors=True)


# The board redraws twice a second, so elements go stale between finding and reading them: read in one
# script call instead.
def row_cells(driver, order_id):
    return driver.execute_script(
        "const row = [...document.querySelectorAll('#orders tbody tr')].find(r => r.dataset.orderId === arguments[0]);"
        "return row ? [...row.cells].map(c => c.textContent) : null;", order_id)


def row_status(driver, order_id):
    cells = row_cells(driver, order_id)
    return cells[5] if cells else None


def saga_lines(driver):
    return driver.execute_script("return [...document.querySelectorAll('#sagaEvents li')].map(li => li.textContent)")


def click_row(driver, order_id):
    return driver.execute_script(
        "const row = [...document.querySelectorAll('#orders tbody tr')].find(r => r.dataset.orderId === arguments[0]);"
        "if (row) row.click(); return !!row;", order_id)


def main():
    run_in_chromium(run, window="1500,900")


def run_prices(driver, base, shots, item):
    driver.get(base + "/services/prices.html")
    wait("the page to go live", lambda: driver.find_element(By.ID, "liveState").text == "live", 60)
    cells = wait(f"{item}'s change to arrive", lambda: driver.execute_script(
        "const row = [...document.querySelectorAll('#changes tbody tr.applied')].find(r => r.dataset.item === arguments[0]);"
        "return row ? [...row.cells].map(c => c.textContent) : null;", item), 60)
    if not cells[4].endswith(" ms"):
        fail(f"no elapsed time shown: {cells}")
    skipped = driver.execute_script("return document.querySelectorAll('#changes tbody tr.filtered').length")
    print(f"ok: {item}'s new price {cells[1]} arrived in {cells[4]}; {skipped} own change(s) shown as skipped",
          flush=True)
    driver.save_screenshot(os.path.join(shots, "services-prices.png"))
    errors = console_errors(driver)
    if errors:
        fail(f"console errors: {errors}")
    print("ok: no console errors", flush=True)


def run(driver, base, shots):
    if len(sys.argv) > 4 and sys.argv[3] == "prices":
        return run_prices(driver, base, shots, sys.argv[4])
    driver.get(base + "/services/")
    wait("the board to go live", lambda: driver.find_element(By.ID, "liveState").text == "live", 60)
    print("ok: the board is live", flush=True)

    # The form: account a1, item i1 at l1, one unit — stock and money enough.
    driver.find_element(By.ID, "place").click()
    placed = wait("the placed order's id", lambda: driver.find_element(By.ID, "placed").text.startswith("placed ")
                      and driver.find_element(By.ID, "placed").text)
    order_id = placed.split(" ", 1)[1]
    status = wait(f"{order_id} to end", lambda: row_status(driver, order_id) in ("COMPLETED", "COMPENSATED")
                      and row_status(driver, order_id))
    if status != "COMPLETED":
        fail(f"{order_id} ended {status}")
    wait("the inspector to show the saga", lambda: driver.find_element(By.ID, "sagaTitle").text == f"saga {order_id}")
    steps = wait("its steps", lambda: saga_lines(driver))
    succeeded = [s for s in steps if "succeeded" in s]
    if len(succeeded) != 6 or not steps[-1].startswith("saga ended COMPLETED"):
        fail(f"the inspector shows {steps}")
    print(f"ok: {order_id} placed with the form ended COMPLETED; its saga shows 6 steps", flush=True)
    driver.save_screenshot(os.path.join(shots, "services-board-completed.png"))

    # Over HTTP: one unit more than the location stocks, from an account that can pay for it — so credit is
    # authorized, the reservation fails, and the authorization is released.
    def get(path):
        with urllib.request.urlopen(base + path) as response:
            return json.load(response)
    price = get("/v1/services/items/i2")["price"]
    quantity = get("/v1/services/stock/i2/l2")["availableToPromise"] + 1
    account = max((get(f"/v1/services/accounts/a{n}") for n in range(50)), key=lambda a: a["balance"])
    if account["balance"] < price * quantity:
        fail(f"no account among a0…a49 can pay {price * quantity}")
    request = urllib.request.Request(base + "/v1/services/orders", method="POST", data=json.dumps(
        {"account": account["id"], "item": "i2", "location": "l2", "quantity": quantity}).encode())
    with urllib.request.urlopen(request) as response:
        if response.status != 202:
            fail(f"POST answered {response.status}")
        big = json.load(response)["orderId"]
    status = wait(f"{big} to end", lambda: row_status(driver, big) in ("COMPLETED", "COMPENSATED")
                      and row_status(driver, big))
    if status != "COMPENSATED":
        fail(f"{big} ended {status}")
    wait(f"{big}'s row to click", lambda: click_row(driver, big))
    wait("the inspector to show it", lambda: driver.find_element(By.ID, "sagaTitle").text == f"saga {big}")
    steps = wait("its steps", lambda: saga_lines(driver))
    text = "\n".join(steps)
    if "reserve: failed" not in text or "credit compensated" not in text or "(step 2, compensating)" not in text:
        fail(f"the inspector shows {steps}")
    reason = row_cells(driver, big)[7]
    if reason != "out of stock":
        fail(f"the reason shown is {reason!r}")
    print(f"ok: {big} ended COMPENSATED (out of stock); the inspector shows the authorization released", flush=True)
    driver.save_screenshot(os.path.join(shots, "services-board-compensated.png"))

    errors = console_errors(driver)
    if errors:
        fail(f"console errors: {errors}")
    print("ok: no console errors", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The pages in a real browser: headless Chromium from Debian (chromium, chromium-driver), driven by selenium, against
`gatewayd demo`. Signs in with the demo's token, finds the cuff's reset clock and the visitor's readings waiting for a
person on "Needs attention", says whose they are from the page and sees them move, switches to Japanese and to large
text, and checks that the browser logged no error and asked for nothing but the gateway on loopback.

usage: pages_in_a_browser.py PATH/TO/gatewayd [SCREENSHOT_DIR]
Exit status 0 when every check passed; each failed check is printed.
"""
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

failures = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what, flush=True)
    if not condition:
        failures.append(what)
    return condition


def follow(driver, element):
    """Clicks a link or a form's button and waits for the next page to replace this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_):
        try:
            page.is_enabled()
            return False
        except Exception:  # stale, or no longer in the document: the next page is there
            return True

    WebDriverWait(driver, 30).until(replaced)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DEMO_OUTPUT = []


def wait_for(driver, selector, seconds=30):
    """Waits (without reloading: the page's live panel must bring it) for an element; returns it or None."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = driver.find_elements(By.CSS_SELECTOR, selector)
        if found:
            return found[0]
        time.sleep(0.2)
    return None


def start_demo(gatewayd, port):
    demo = subprocess.Popen(
        [gatewayd, "demo", "--listen", f"127.0.0.1:{port}", "--seconds", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    token = None
    deadline = time.time() + 180
    lines = []
    while time.time() < deadline:
        line = demo.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"sign in with the token (\S+)", line)
        if match:
            token = match.group(1)
            break
    # Keep draining its output so it never blocks on a full pipe (kept: the simulated cuff "shows" its code there).
    threading.Thread(target=lambda: [DEMO_OUTPUT.append(line) for line in demo.stdout], daemon=True).start()
    if token is None:
        print("".join(lines))
    return demo, token


def fhir_get(base, token, path):
    request = urllib.request.Request(f"{base}/fhir/{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read().decode(), parse_float=str, parse_int=str)


def format_number(value):
    """A JSON number as the page writes it: its exact text (parsed as a string, never through a float)."""
    return str(value)


def fhir_count(base, token, query):
    """How many Observations a search finds, following its pages."""
    url, count = f"{base}/fhir/Observation?{query}&_count=200", 0
    while url:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            bundle = json.load(response)
        count += sum(1 for entry in bundle.get("entry", []) if entry["search"]["mode"] == "match")
        url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
    return count


def main():
    gatewayd = sys.argv[1]
    shots = sys.argv[2] if len(sys.argv) > 2 else None
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    demo, token = start_demo(gatewayd, port)
    if not check(token is not None, "gatewayd demo printed the pages' address and its token"):
        demo.kill()
        return 1
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1000,1300", "--lang=en-GB", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-default-apps"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(base + "/app")
        check(driver.current_url.endswith("/app/login"), "not signed in: the page asks to sign in")
        driver.find_element(By.ID, "token").send_keys(token)
        follow(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/app/login'] button[type=submit]"))
        check(driver.current_url.rstrip("/").endswith("/app"), "signed in: Needs attention")
        check("HttpOnly" not in str(driver.get_cookies()) and any(
            c["name"] == "gw_session" and c["httpOnly"] and c.get("sameSite") == "Strict" for c in driver.get_cookies()),
            "the session cookie is HttpOnly and SameSite=Strict")
        # The cuff's first connection brings the visitor's readings: reload until they are listed.
        waiting = []
        for _ in range(90):
            waiting = driver.find_elements(By.CSS_SELECTOR, "li[data-kind='waiting-readings']")
            if waiting and driver.find_elements(By.CSS_SELECTOR, "li[data-kind='clock-reset']"):
                break
            time.sleep(1)
            driver.refresh()
        check(len(waiting) == 1, "the visitor's readings wait for a person (user 3 of the cuff)")
        check(len(driver.find_elements(By.CSS_SELECTOR, "li[data-kind='clock-reset']")) == 1,
              "the cuff's reset clock is listed")
        if shots:
            driver.save_screenshot(f"{shots}/needs-attention.png")
        if waiting:
            text = waiting[0].text
            check("user 3" in text, f"the waiting item names the user slot: {text!r}")
            count = int(re.search(r"user 3: (\d+) reading", text).group(1))
            before = fhir_count(base, token, "subject=bob")
            Select(waiting[0].find_element(By.TAG_NAME, "select")).select_by_value("bob")
            follow(driver, waiting[0].find_element(By.CSS_SELECTOR, "button[type=submit]"))
            done = driver.find_elements(By.CSS_SELECTOR, ".done")
            check(bool(done) and re.search(r"\d+ reading\(s\) are now bob's", done[0].text) is not None,
                  "assigning says how many readings are now bob's")
            check(not driver.find_elements(By.CSS_SELECTOR, "li[data-kind='waiting-readings']"),
                  "nothing waits for a person any more")
            after = fhir_count(base, token, "subject=bob")
            check(after >= before + count // 2, f"bob's Observations grew with the readings ({before} -> {after})")
        # The cuff's page: its connections, readings received against expected, its clock.
        cuff = [a for a in driver.find_elements(By.CSS_SELECTOR, "nav.devices a") if "BP-" in a.text]
        if check(len(cuff) == 1, "the devices list links the cuff"):
            follow(driver, cuff[0])
            rows = driver.find_elements(By.CSS_SELECTOR, "table.connections tbody tr")
            check(len(rows) >= 1, f"the cuff's page lists its connections ({len(rows)})")
            check(bool(driver.find_elements(By.CSS_SELECTOR, "table.clock tbody tr")), "and its clock's history")
            if shots:
                driver.save_screenshot(f"{shots}/device.png")
            follow(driver, driver.find_element(By.CSS_SELECTOR, "main a[href='/app']"))
        # Sharing: the demo shares with nobody, and says so.
        follow(driver, driver.find_element(By.CSS_SELECTOR, "main a[href='/app/sharing']"))
        check("no destination is configured" in driver.find_element(By.TAG_NAME, "main").text,
              "the sharing page says nothing is shared")
        follow(driver, driver.find_element(By.CSS_SELECTOR, "main a[href='/app']"))
        # Pairing while the service runs: the demo's new cuff in pairing mode. After each click the panel follows
        # the daemon's pairing live (server-sent events), without a reload.
        follow(driver, driver.find_element(By.CSS_SELECTOR, "main a[href='/app/pair']"))
        follow(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/app/pair/scan'] button"))
        pick = wait_for(driver, "form[action='/app/pair/choose'] button")
        if check(pick is not None, "looking for devices lists the new cuff with a 'This one' button"):
            check("BP-7 new" in driver.find_element(By.ID, "pairing").text, "named as it advertises")
            follow(driver, pick)
            code = wait_for(driver, "#pairing p.code")
            shown = re.findall(r"BP-7 new shows (\d{6})", "".join(DEMO_OUTPUT))
            check(code is not None and bool(shown) and shown[-1] in code.text,
                  f"the page shows the six digits the cuff shows ({shown[-1:]}), live")
            if shots:
                driver.save_screenshot(f"{shots}/pairing.png")
            yes = wait_for(driver, "form[action='/app/pair/answer'] input[value='accept'] ~ button")
            if check(yes is not None, "and asks: the same? yes / no"):
                follow(driver, yes)
                whose = wait_for(driver, "select[name='slot-device']")
                if check(whose is not None, "after the download it asks whose the cuff's readings are, live"):
                    Select(whose).select_by_value("alice")
                    follow(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/app/pair/whose'] button"))
                    done = wait_for(driver, "#pairing p.done")
                    check(done is not None and "is paired" in done.text and "alice" in done.text,
                          "the cuff is paired and its readings are alice's")
        follow(driver, driver.find_element(By.CSS_SELECTOR, "main a[href='/app']"))
        # alice's page: the blood-pressure chart holds exactly the daily averages $stats returns for its period.
        follow(driver, driver.find_element(By.CSS_SELECTOR, "nav.people a[href='/app/person/alice']"))
        follow(driver, driver.find_element(By.CSS_SELECTOR, "nav.periods a[href$='days=7']"))
        figure = driver.find_element(By.ID, "blood-pressure")
        period = figure.get_attribute("data-period")
        shown = [(c.get_attribute("data-start"), c.get_attribute("data-value"))
                 for c in figure.find_elements(By.CSS_SELECTOR, "circle[data-code='8480-6']")]
        stats = fhir_get(base, token, "Observation/$stats?subject=alice&code=http://loinc.org|8480-6"
                         f"&period={period}&statistic=average&interval=P1D")
        # A day whose readings were all left out (doubtful) has a window with no average: the chart draws no dot
        # for it (seen just after midnight in Tokyo, when the day's first readings were all doubtful).
        expected = [(p["resource"]["effectivePeriod"]["start"], p["resource"]["component"][0]["valueQuantity"]["value"])
                    for p in stats.get("parameter", []) if p.get("resource", {}).get("component")]
        expected = [(start, format_number(value)) for start, value in expected]
        check(bool(shown) and shown == expected, f"alice's chart holds exactly what $stats returns ({len(shown)} days)")
        check(bool(driver.find_elements(By.CSS_SELECTOR, "p.average[data-chart='blood-pressure']")),
              "and the last 7 days' average")
        check(bool(driver.find_elements(By.CSS_SELECTOR, "h1 .badge")), "her readings are labelled test data")
        if shots:
            driver.save_screenshot(f"{shots}/person.png")
        # On a phone: nothing wider than the screen (no sideways scrolling), on the person page and the first page.
        driver.set_window_size(390, 844)
        for path in ["/app/person/alice?days=30", "/app", "/app/pair"]:
            driver.get(base + path)
            wide = driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            check(wide <= 0, f"{path} fits a phone's width (390 px; {wide} px too wide)")
        if shots:
            driver.get(base + "/app")
            driver.save_screenshot(f"{shots}/needs-attention-phone.png")
        driver.set_window_size(1000, 1300)
        driver.get(base + "/app/person/alice?days=7")
        follow(driver, driver.find_element(By.CSS_SELECTOR, "main a[href='/app']"))
        # Japanese, then large text; the choices persist across pages.
        follow(driver, driver.find_element(By.CSS_SELECTOR, "a[lang='ja']"))
        check(driver.find_element(By.TAG_NAME, "h1").text == "確認が必要なこと", "the page switches to Japanese")
        check(driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja", "and says so (lang=ja)")
        follow(driver, driver.find_element(By.XPATH, "//a[contains(@href, 'size=large')]"))
        check("large" in driver.find_element(By.TAG_NAME, "body").get_attribute("class"), "larger text")
        if shots:
            driver.save_screenshot(f"{shots}/needs-attention-ja-large.png")
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        check(not errors, f"no errors in the browser's console {errors}")
        outside = []
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                url = message["params"]["request"]["url"]
                if not (url.startswith(base + "/") or url.startswith("data:") or url.startswith("about:")):
                    outside.append(url)
        check(not outside, f"no request left the gateway on loopback {outside}")
    finally:
        driver.quit()
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=90)
        except subprocess.TimeoutExpired:
            demo.kill()
    print(f"pages in a browser: {'all checks passed' if not failures else f'{len(failures)} check(s) failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

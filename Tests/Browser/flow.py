"""The pages in headless chromium, as people use them (run by scripts/browser-check.sh).

Every step asserts what a person would see; the first failure stops the run with its reason.
"""

import base64
import json
import os
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

BIN = os.environ["OTPTOKEN_BIN"]
SOCK = os.environ["TOKEN_SOCKET"]
BASE = os.environ["BASE_URL"]
WORK = os.environ["WORK"]
SHOTS = os.environ.get("SHOTS", "")


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def cli(*args, stdin=None):
    """Runs otptoken; returns (exit status, stdout)."""
    done = subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout


def press():
    """Presses the simulated token's button: the code it types."""
    out = subprocess.check_output([BIN, "sim", "press", "--socket", SOCK], text=True, timeout=30)
    return out.splitlines()[0].strip()


def totp(secret, offset=0):
    """A phone app's code, computed by oathtool (an independent TOTP implementation)."""
    at = int(time.time()) + offset
    return subprocess.check_output(["oathtool", "--totp", "-b", "-N", f"@{at}", secret], text=True).strip()


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=900,1100",
    "--lang=en-US",
    f"--user-data-dir={WORK}/chrome",
]:
    options.add_argument(argument)
options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(30)


def go(path):
    driver.get(BASE + path)


def path():
    return urllib.parse.urlparse(driver.current_url).path


def text():
    return driver.find_element(By.TAG_NAME, "main").text


def loads(action):
    """Does `action` and waits (at most 15 s) until the page it leads to has replaced this one.

    The old page is marked in its window object, which a new document does not inherit. (Asking
    whether the old element is stale races the navigation: chromium may answer with an inspector
    error instead of a stale reference.)
    """
    driver.execute_script("window.otptokenLeaving = true")
    action()
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return !window.otptokenLeaving && document.readyState === 'complete'"))


def enter(value):
    """Types into the focused field and presses Enter, as a USB token does."""
    loads(lambda: driver.switch_to.active_element.send_keys(value + Keys.ENTER))


def click(by, what):
    loads(lambda: driver.find_element(by, what).click())


def fill(field_id, value):
    field = driver.find_element(By.ID, field_id)
    field.clear()
    field.send_keys(value)
    return field


def submit(action):
    """Clicks the submit button of the form posting to `action`."""
    click(By.CSS_SELECTOR, f'form[action="{action}"] button[type="submit"]')


def shot(name):
    if SHOTS:
        driver.save_screenshot(os.path.join(SHOTS, name))


def sign_in(user, password):
    go("/signin")
    fill("user", user)
    fill("password", password)
    submit("/signin")


def sign_out():
    submit("/signout")
    check(path() == "/signin", f"signing out leads to the sign-in page, not {path()}")


try:
    # 1. A password, then a press of the simulated token on the code page.
    go("/signin")
    check(driver.find_element(By.ID, "user").get_attribute("autocomplete") == "username", "user name autocomplete")
    check(
        driver.find_element(By.ID, "password").get_attribute("autocomplete") == "current-password",
        "password autocomplete",
    )
    fill("user", "alice")
    fill("password", "correct horse")
    shot("signin.png")
    submit("/signin")
    check(path() == "/signin/code", f"the password leads to the code step, not {path()}")
    field = driver.find_element(By.ID, "code")
    check(field.get_attribute("autocomplete") == "one-time-code", "the code field asks for a one-time code")
    check(driver.switch_to.active_element == field, "the code field has the focus, so a token can type into it")
    session_cookie = driver.get_cookie("otp_session")
    check(session_cookie and session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict", "cookie flags")
    shot("code.png")
    code = press()
    enter(code)  # the token types the code and Enter
    check(path() == "/account", f"the press signs alice in, not {path()}")
    check("USB token 12345678" in text(), "the Security page lists the token")
    check(driver.get_cookie("otp_session")["value"] != session_cookie["value"], "a new session id at sign-in")

    # 2. The same code again is refused.
    sign_out()
    sign_in("alice", "correct horse")
    enter(code)
    check(path() == "/signin/code", "a used code does not sign in")
    check("not right" in driver.find_element(By.CSS_SELECTOR, ".error").text, "the refusal is explained")
    enter(press())
    check(path() == "/account", "the next press signs in")

    # 3. Connect a phone app from the QR code on the page.
    submit("/account/phone")
    qr = driver.find_element(By.CSS_SELECTOR, "img.qr")
    qr.screenshot(os.path.join(WORK, "qr.png"))
    uri = subprocess.check_output(["zbarimg", "--raw", "-q", os.path.join(WORK, "qr.png")], text=True).strip()
    check(uri.startswith("otpauth://totp/otptoken:alice?"), f"the QR code holds an otpauth URI: {uri[:40]}")
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    key = driver.find_element(By.ID, "key").text
    check(key.replace(" ", "") == secret and len(key.split(" ")[0]) == 4, "the key is shown in groups of four")
    fill("code", totp(secret))
    enter("")
    check(path() == "/account", f"a current code confirms the phone app, not {path()}")
    check("phone app is connected" in text(), "the page says the phone app is connected")

    # 4. Sign out and back in with the phone app (the next step's code: the current one is used).
    sign_out()
    sign_in("alice", "correct horse")
    enter(totp(secret, 30))
    check(path() == "/account", "the phone app's code signs in")

    # 5. A recovery code works once.
    submit("/account/recovery")
    codes = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
    check(len(codes) == 10 and all(len(c) == 9 for c in codes), f"ten recovery codes: {codes}")
    link = driver.find_element(By.CSS_SELECTOR, "a[download]").get_attribute("href")
    saved = base64.b64decode(link.split(",", 1)[1]).decode()
    check(all(c in saved for c in codes), "the download holds every code")
    go("/account")
    check(driver.find_element(By.ID, "recovery-left").text == "10", "ten left")
    shot("security.png")
    sign_out()
    sign_in("alice", "correct horse")
    click(By.LINK_TEXT, "Use a recovery code instead")
    enter(codes[0])
    check(path() == "/account", "a recovery code signs in")
    check(driver.find_element(By.ID, "recovery-left").text == "9", "nine left")
    sign_out()
    sign_in("alice", "correct horse")
    click(By.LINK_TEXT, "Use a recovery code instead")
    enter(codes[0])
    check(path() == "/signin/code", "a recovery code works once")
    go("/signin/code")
    enter(press())
    check(path() == "/account", "signed in again with a press")

    # 6. An application password: shown once, listed, usable, revoked.
    fill("app-name", "mail")
    submit("/account/app-passwords")
    password = driver.find_element(By.ID, "app-password").text.replace(" ", "")
    check(len(password) == 16 and password.isalpha(), "a 16-letter application password")
    go("/account")
    check("mail" in driver.find_element(By.ID, "app-password-list").text, "the password is listed")
    check(cli("login", "--user", "alice", "--password", password)[0] == 0, "the application password works")
    submit("/account/app-passwords/revoke")
    check("mail" not in driver.find_element(By.ID, "app-password-list").text, "revoked, no longer listed")
    check(cli("login", "--user", "alice", "--password", password)[0] != 0, "a revoked password is refused")

    # The administrators' pages do not exist for alice; a form without its token changes nothing.
    go("/admin/users")
    check("Not found" in driver.title, "no administrators' pages for alice")
    request = urllib.request.Request(
        BASE + "/signin", data=b"user=alice&password=correct+horse", method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        urllib.request.urlopen(request, timeout=10)
        check(False, "a sign-in without its CSRF token is refused")
    except urllib.error.HTTPError as error:
        check(error.code == 403, f"a sign-in without its CSRF token is 403, not {error.code}")
    sign_out()

    # 7. An administrator: unlock bob, set a policy with a deadline, turn two-step login off for bob.
    enrolled = json.loads(cli("totp", "enroll", "--user", "bob", "--json")[1])
    bob_secret = urllib.parse.parse_qs(urllib.parse.urlparse(enrolled["uri"]).query)["secret"][0]
    check(cli("totp", "confirm", "--user", "bob", totp(bob_secret))[0] == 0, "bob's phone app confirmed")
    reasons = [json.loads(cli("verify", "--user", "bob", "000000", "--json")[1]).get("reason") for _ in range(8)]
    check("throttled" in reasons or "locked" in reasons, f"wrong codes throttle bob: {reasons}")
    sign_in("root", "root's password")
    check(path() == "/account", "root, without a factor, signs in with the password")
    go("/admin/users")
    rows = {r.find_elements(By.TAG_NAME, "td")[0].text: r.text for r in driver.find_elements(By.CSS_SELECTOR, "#users tbody tr")}
    check(set(rows) == {"alice", "bob", "root"}, f"every user is listed: {list(rows)}")
    check("5 failed attempts" in rows["bob"], f"bob's failures are shown: {rows['bob']}")
    shot("admin-users.png")
    click(By.LINK_TEXT, "bob")
    check("failed attempts" in text(), "bob's page shows the failures")
    submit("/admin/users/bob/unlock")
    check("Done." in text() and "failed attempts" not in text(), f"unlocked: {text()[:300]}")
    go("/admin/policy")
    driver.find_element(By.CSS_SELECTOR, 'input[name="scope"][value="everyone"]').click()
    driver.execute_script("document.getElementById('deadline').value = '2030-01-31'")
    submit("/admin/policy")
    check("Saved." in text(), "the policy is saved")
    policy = json.loads(cli("policy", "show", "--json")[1])
    check("2030-01-31" in json.dumps(policy) or policy.get("deadline"), f"the policy has its deadline: {policy}")
    go("/admin/users/bob")
    fill("days", "3")
    submit("/admin/users/bob/second-factor-off")
    check("two-step login off until" in text(), "bob's page shows the switch")
    check(cli("login", "--user", "bob", "--password", "bob's password")[0] == 0, "bob gets in with his password")
    sign_out()
    print("browser-check: every step passed")
except Exception as error:  # noqa: BLE001 - report the page, then fail
    step = traceback.extract_tb(error.__traceback__)
    where = ", ".join(f"line {frame.lineno} ({frame.name})" for frame in step if frame.filename == __file__)
    print(f"browser-check: FAILED at {where}: {error}", file=sys.stderr)
    try:
        print(f"  at {driver.current_url}\n{driver.find_element(By.TAG_NAME, 'body').text[:1500]}", file=sys.stderr)
        driver.save_screenshot(os.path.join("/tmp", "otptoken-browser-failure.png"))
    except Exception:  # noqa: BLE001
        pass
    sys.exit(1)
finally:
    driver.quit()

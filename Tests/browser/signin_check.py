#!/usr/bin/env python3
"""Signs in to Warden's dashboard in a real headless Chromium through the OpenID provider, then
acts as an operator with the dashboard's own buttons.

usage: signin_check.py URL USER SERVICE OUTDIR
The browser trusts the test's own certificate authority by SPKI pin-less flag (the TLS checks are
elsewhere; here the cookie's Secure attribute needs HTTPS). Checks: the sign-in link shows; the
provider's login form takes the user; back on the dashboard the user and role show; the restart
button's request for SERVICE succeeds (the test checks that the process changed); the ban form bans an address and the unban
button lifts it; the approve button of a workflow run waiting for a person lets it go on; signing out hides the buttons; no console error. Prints one JSON object; exits 1
when a check failed.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_check import Page  # noqa: E402


def main():
    url, user, service, out = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    page = Page(url, extra_args=["--ignore-certificate-errors"])
    checks = {}
    try:
        checks["sign_in_offered"] = bool(page.wait_for("!document.getElementById('signin').hidden", 30))
        page.eval("document.getElementById('signin').click()")
        checks["provider_login_form"] = bool(page.wait_for("!!document.getElementById('id_username')", 30))
        page.screenshot(os.path.join(out, "1-provider.png"))
        page.eval(
            f"document.getElementById('id_username').value = {json.dumps(user)};"
            f"document.getElementById('id_password').value = {json.dumps(user)};"
            "document.querySelector('form').submit()")
        who = page.wait_for("location.pathname === '/' && document.getElementById('who').innerText", 30) or ""
        checks["signed_in_as"] = who.startswith(f"oidc:{user} · operator")
        checks["buttons_shown"] = bool(page.wait_for("document.body.classList.contains('can-act')", 10))
        # What the provider's own pages logged (its missing favicon) is not the dashboard's.
        page.errors = []
        page.screenshot(os.path.join(out, "2-signed-in.png"))

        restart = f"/v1/services/{service}/restart"
        page.wait_for(f"!!document.querySelector('button[data-act=\"{restart}\"]')", 20)
        page.eval(f"document.querySelector('button[data-act=\"{restart}\"]').click()")
        checks["restart_button"] = bool(page.wait_for(
            f"document.getElementById('notice').innerText === 'POST {restart}: done'", 30))

        page.eval("(() => { const f = document.getElementById('ban'); f.address.value = '203.0.113.77';"
                  " f.for.value = '10m'; f.reason.value = 'from the browser'; f.requestSubmit(); })()")
        checks["ban_form"] = bool(page.wait_for("document.getElementById('defense').innerText.includes('203.0.113.77')", 20))
        page.screenshot(os.path.join(out, "3-banned.png"))
        page.eval("document.querySelector('button[data-unban=\"203.0.113.77\"]').click()")
        checks["unban_button"] = bool(page.wait_for("!document.getElementById('defense').innerText.includes('203.0.113.77')", 20))

        approve = "button[data-act$='/steps/ask/approve']"
        page.wait_for(f"!!document.querySelector(\"{approve}\")", 20)
        page.screenshot(os.path.join(out, "3b-approval.png"))
        page.eval(f"document.querySelector(\"{approve}\").click()")
        checks["approve_button"] = bool(page.wait_for(
            "document.getElementById('runs').innerText.includes('succeeded')", 30))

        page.eval("document.getElementById('signout').click()")
        checks["signed_out"] = bool(page.wait_for("!document.body.classList.contains('can-act') && document.getElementById('signout').hidden", 20))
        time.sleep(0.5)
        page.eval("1")
        # A 401 answered to the page after signing out is expected, not an error of the page.
        page.errors = [e for e in page.errors if "401" not in e]
        checks["no_console_errors"] = not page.errors
        page.screenshot(os.path.join(out, "4-signed-out.png"))
    finally:
        page.close()
    print(json.dumps({"checks": checks, "errors": page.errors}))
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()

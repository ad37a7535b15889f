#!/usr/bin/env python3
"""Drives a real headless Chromium through the control plane's fleet dashboard.

usage: fleet_check.py URL TOKEN OUTDIR NODE SERVICE FAILED_SERVICE BANNED_ADDRESS SERIES
Checks, saving a screenshot after each: without a token the page asks for one; with the reader's
token the node is listed with its failed service and its ban; its page (reached by clicking its
name) shows each service in its state, the ban, the series and the latest events; and the page
logged no console error. Prints one JSON object; exits 1 when a check failed.
"""
import json
import os
import sys
import time

from dashboard_check import Page, wait_served


def main():
    url, token, out, node, service, failed, address, series = sys.argv[1:9]
    os.makedirs(out, exist_ok=True)
    wait_served(url)
    page = Page(url)
    checks = {}
    try:
        # No token yet: the page asks for one (and shows no data).
        checks["asks_for_a_token"] = bool(page.wait_for(
            "getComputedStyle(document.getElementById('login')).display !== 'none'", 20))
        page.screenshot(os.path.join(out, "1-login.png"))
        page.eval(f"document.getElementById('token').value = {json.dumps(token)};"
                  " document.querySelector('#login button').click(); 1")
        row = f"document.querySelector('#nodes tr[data-node={json.dumps(node)}]')"
        listed = page.wait_for(
            f"(() => {{ const r = {row}; if (!r) return ''; const c = r.querySelectorAll('td');"
            " return c[4].innerText.trim() === '1' && c[6].innerText.trim() === '1' ? r.innerText : ''; })()", 60)
        checks["node_listed_with_counts"] = bool(listed)
        page.screenshot(os.path.join(out, "2-fleet.png"))
        # The page kept no error for the first (refused) load once the token was given.
        page.errors.clear()

        page.eval(f"{row}.querySelector('a').click(); 1")
        services = "document.getElementById('services').innerText"
        checks["services_in_their_state"] = bool(page.wait_for(
            f"(() => {{ const t = {services}; return /{service}\\s+running/.test(t) && /{failed}\\s+failed/.test(t); }})()",
            30))
        checks["ban_shown"] = bool(page.wait_for(
            f"document.getElementById('bans').innerText.includes({json.dumps(address)})", 10))
        checks["series_shown"] = bool(page.wait_for(
            f"document.getElementById('series').innerText.includes({json.dumps(series)})", 10))
        checks["events_shown"] = bool(page.wait_for(
            "document.getElementById('events').children.length > 0", 10))
        checks["address_names_the_node"] = node in (page.eval("location.hash") or "")
        page.screenshot(os.path.join(out, "3-node.png"))
        time.sleep(1)
        page.eval("1")
        checks["no_console_errors"] = not page.errors
    finally:
        page.close()
    result = {"checks": checks, "errors": page.errors, "screenshots": sorted(os.listdir(out))}
    print(json.dumps(result))
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()

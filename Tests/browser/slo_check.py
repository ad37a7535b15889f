#!/usr/bin/env python3
"""Drives a real headless Chromium through a Warden dashboard's SLO panel.

usage: slo_check.py URL TOKEN OUTDIR SLO
Checks, with a screenshot: the SLO has its row, with a budget left under 100 % and a burn-rate
alert shown firing; the page logged no console error; on a phone's width nothing is wider than
the screen. Prints one JSON object; exits 1 when a check failed.
"""
import json
import os
import sys
import time

from dashboard_check import Page, wait_served


def main():
    url, token, out, slo = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    wait_served(url)
    page = Page(url + "#token=" + token)
    checks = {}
    try:
        row = f"document.querySelector('#slos tr[data-slo={json.dumps(slo)}]')"
        shown = page.wait_for(
            f"(() => {{ const r = {row}; if (!r) return ''; const left = r.querySelector('.budget');"
            " return left && parseFloat(left.innerText) < 100 && r.innerText.includes('firing') ? r.innerText : ''; })()",
            30)
        checks["slo_row_with_budget_and_firing_alert"] = bool(shown)
        checks["budget_meter"] = bool(page.eval(f"(() => {{ const m = {row}?.querySelector('meter');"
                                                " return !!m && m.value < 1; })()"))
        page.screenshot(os.path.join(out, "1-slos.png"))
        time.sleep(1)
        page.eval("1")
        # The sections this spec has not (defense, workflows) answer 404 and the session probe
        # 401, which the page expects; Chromium logs each as a failed load. Anything else counts.
        unexpected = [e for e in page.errors if not e.startswith("log: Failed to load resource")]
        checks["no_console_errors"] = not unexpected
        page.call("Emulation.setDeviceMetricsOverride",
                  {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}, session=True)
        time.sleep(1)
        checks["fits_a_phone"] = bool(page.eval("document.documentElement.scrollWidth <= 400"))
        # What is wider than the screen, for the failure message.
        wide = page.eval("[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 400)"
                         ".slice(0, 8).map((e) => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')")
        page.screenshot(os.path.join(out, "2-phone.png"))
    finally:
        page.close()
    result = {"checks": checks, "errors": page.errors, "row": shown if isinstance(shown, str) else "", "wide": wide}
    print(json.dumps(result))
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()

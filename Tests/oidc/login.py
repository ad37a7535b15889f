"""Signs in at the test provider the way a person's browser does (requests keeps the cookies).

    python3 login.py token ISSUER CA CLIENT_ID CLIENT_SECRET REDIRECT_URI USER
        The authorization code flow with PKCE, run by this script as the client: prints the ID
        token the provider issued (what a CLI would then send to Warden as a bearer token).
    python3 login.py warden WARDEN_URL CA USER SERVICE
        Signs in to Warden's dashboard (Warden is the client): follows Warden's redirect to the
        provider, fills in the provider's login form, follows the provider's redirect back to
        Warden, then acts as the dashboard would: restarts SERVICE without the CSRF token, with
        it, with it from another origin, signs out and asks who it is. Prints one JSON object:
        Warden's Set-Cookie, the `GET /v1/session` answer, and the status of each step.
The password of each test user is its name.
"""

import base64
import hashlib
import json
import re
import secrets
import sys
import urllib.parse

import requests


def sign_in(session, response, user, ca):
    """`response` is the provider's login page: post the form and return the provider's answer."""
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text).group(1)
    return session.post(
        response.url,
        data={"csrfmiddlewaretoken": token, "username": user, "password": user,
              "next": urllib.parse.parse_qs(urllib.parse.urlparse(response.url).query)["next"][0]},
        headers={"Referer": response.url},
        verify=ca,
        allow_redirects=False,
    )


def follow(session, response, ca, stop_at):
    """Follows redirects by hand until one points at `stop_at` (not followed) or a page answers."""
    while response.is_redirect:
        target = urllib.parse.urljoin(response.url, response.headers["Location"])
        if target.startswith(stop_at):
            return target
        response = session.get(target, verify=ca, allow_redirects=False)
    return response


def token(issuer, ca, client_id, client_secret, redirect_uri, user):
    s = requests.Session()
    config = s.get(issuer + "/.well-known/openid-configuration", verify=ca).json()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": "openid profile", "state": state, "code_challenge": challenge,
        "code_challenge_method": "S256", "nonce": secrets.token_urlsafe(16),
    })
    page = follow(s, s.get(config["authorization_endpoint"] + "?" + query, verify=ca, allow_redirects=False), ca,
                  redirect_uri)
    if not isinstance(page, str):
        page = follow(s, sign_in(s, page, user, ca), ca, redirect_uri)
    params = urllib.parse.parse_qs(urllib.parse.urlparse(page).query)
    assert params["state"][0] == state, "state changed"
    answer = s.post(config["token_endpoint"], verify=ca, data={
        "grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }, auth=(client_id, client_secret))
    answer.raise_for_status()
    print(answer.json()["id_token"])


def warden(url, ca, user, service):
    s = requests.Session()
    response = s.get(url + "/auth/login", verify=ca, allow_redirects=False)
    page = follow(s, response, ca, url + "/auth/callback")
    if not isinstance(page, str):
        page = follow(s, sign_in(s, page, user, ca), ca, url + "/auth/callback")
    final = s.get(page, verify=ca, allow_redirects=False)
    session = s.get(url + "/v1/session", verify=ca)
    out = {
        "callbackStatus": final.status_code,
        "location": final.headers.get("Location"),
        "setCookie": final.headers.get("Set-Cookie", ""),
        "session": session.json() if session.status_code == 200 else session.text,
        "sessionStatus": session.status_code,
    }
    csrf = out["session"].get("csrf", "") if session.status_code == 200 else ""
    restart = url + "/v1/services/" + service + "/restart"
    out["restartWithoutCSRF"] = s.post(restart, verify=ca).status_code
    out["restartWithCSRF"] = s.post(restart, verify=ca, headers={"X-CSRF-Token": csrf}).status_code
    out["restartFromAnotherOrigin"] = s.post(
        restart, verify=ca, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}).status_code
    out["logout"] = s.post(url + "/auth/logout", verify=ca, headers={"X-CSRF-Token": csrf}).status_code
    out["afterLogout"] = s.get(url + "/v1/session", verify=ca).status_code
    # The provider's redirect replayed (by a browser without the sign-in's cookie): refused.
    out["replayElsewhere"] = requests.get(page, verify=ca, allow_redirects=False).status_code
    print(json.dumps(out))


if __name__ == "__main__":
    {"token": token, "warden": warden}[sys.argv[1]](*sys.argv[2:])

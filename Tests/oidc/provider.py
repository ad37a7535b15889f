"""A real OpenID provider for Warden's tests: Django OAuth Toolkit (PyPI) served by gunicorn
over TLS on loopback.

    python3 provider.py setup STATE_DIR CLIENT_ID CLIENT_SECRET REDIRECT_URI
    python3 provider.py serve STATE_DIR CERT KEY PORT_FILE [PORT]

`setup` creates the provider's SQLite database, its signing key (`key.pem`), the confidential
client (authorization code with PKCE) and the test users (below). `serve` runs gunicorn on PORT (a
free loopback port when not given) and writes the port to PORT_FILE. A key rotation is `rotate STATE_DIR`: the
current key becomes inactive (still published in the JWKS) and a new one signs from then on
(the server must be restarted to read it).

Users (password = user name): `viewer` (group warden-viewers), `operator` and `admin` (groups
warden-operators / warden-admins, both enrolled in a second factor), `operator-nomfa` (group
warden-operators, password only). The provider's own configuration puts two claims in its ID
tokens: `groups` (the user's groups) and `amr` (["pwd", "otp"] for a user in group `mfa`, else
["pwd"]): what a real deployment's provider says after its login step.
"""

import os
import subprocess
import sys


def configure(state):
    import django
    from django.conf import settings

    keys = os.path.join(state, "keys")
    active = open(os.path.join(keys, "active.pem")).read() if os.path.exists(os.path.join(keys, "active.pem")) else ""
    inactive = []
    if os.path.isdir(keys):
        for name in sorted(os.listdir(keys)):
            if name.startswith("inactive-"):
                inactive.append(open(os.path.join(keys, name)).read())
    settings.configure(
        DEBUG=False,
        SECRET_KEY="warden-test-provider-" + state,
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "oauth2_provider",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(state, "db.sqlite3")}},
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")],
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
            }
        ],
        LOGIN_URL="/accounts/login/",
        USE_TZ=True,
        SESSION_COOKIE_SECURE=True,
        CSRF_COOKIE_SECURE=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        OAUTH2_PROVIDER={
            "OIDC_ENABLED": True,
            "OIDC_RSA_PRIVATE_KEY": active,
            "OIDC_RSA_PRIVATE_KEYS_INACTIVE": inactive,
            "PKCE_REQUIRED": True,
            "OAUTH2_VALIDATOR_CLASS": __name__ + ".Validator",
            "SCOPES": {"openid": "OpenID Connect", "profile": "Profile"},
            "ID_TOKEN_EXPIRE_SECONDS": int(os.environ.get("PROVIDER_TOKEN_SECONDS", "600")),
        },
    )
    django.setup()


def validator_class():
    from oauth2_provider.oauth2_validators import OAuth2Validator

    class Validator(OAuth2Validator):
        oidc_claim_scope = dict(OAuth2Validator.oidc_claim_scope, groups="openid", amr="openid")

        def get_additional_claims(self, request):
            names = sorted(g.name for g in request.user.groups.all())
            return {
                "preferred_username": request.user.username,
                "groups": [n for n in names if n != "mfa"],
                "amr": ["pwd", "otp"] if "mfa" in names else ["pwd"],
            }

    return Validator


def new_key(path):
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path],
        check=True,
        capture_output=True,
    )


def setup(state, client_id, client_secret, redirect_uri):
    os.makedirs(os.path.join(state, "keys"), exist_ok=True)
    new_key(os.path.join(state, "keys", "active.pem"))
    configure(state)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import Group, User
    from oauth2_provider.models import Application

    users = {
        "viewer": ["warden-viewers"],
        "operator": ["warden-operators", "mfa"],
        "admin": ["warden-admins", "mfa"],
        "operator-nomfa": ["warden-operators"],
    }
    for name, groups in users.items():
        user = User.objects.create_user(name, password=name)
        for g in groups:
            user.groups.add(Group.objects.get_or_create(name=g)[0])
    Application.objects.create(
        name="warden",
        client_id=client_id,
        client_secret=client_secret,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uri,
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )


def rotate(state):
    keys = os.path.join(state, "keys")
    n = len([k for k in os.listdir(keys) if k.startswith("inactive-")])
    os.rename(os.path.join(keys, "active.pem"), os.path.join(keys, "inactive-%03d.pem" % n))
    new_key(os.path.join(keys, "active.pem"))


def serve(state, cert, key, port_file, port="0"):
    import socket

    cert, key, port_file = (os.path.abspath(p) for p in (cert, key, port_file))
    port = int(port)
    if port == 0:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
    with open(port_file + ".tmp", "w") as out:
        out.write(str(port))
    os.rename(port_file + ".tmp", port_file)
    here = os.path.dirname(os.path.abspath(__file__))
    os.execvp(
        sys.executable,
        [
            sys.executable, "-m", "gunicorn", "--chdir", here, "--bind", "127.0.0.1:%d" % port,
            "--certfile", cert, "--keyfile", key, "--workers", "1", "--threads", "4",
            "--env", "WARDEN_PROVIDER_STATE=" + state, "provider:application",
        ],
    )


if __name__ != "__main__" and os.environ.get("WARDEN_PROVIDER_STATE"):
    # Loaded by gunicorn: configure Django, then define the URLs and the WSGI application.
    configure(os.environ["WARDEN_PROVIDER_STATE"])
    Validator = validator_class()
    from django.contrib.auth import views as auth_views
    from django.core.wsgi import get_wsgi_application
    from django.urls import include, path

    urlpatterns = [
        path("accounts/login/", auth_views.LoginView.as_view()),
        path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    ]
    application = get_wsgi_application()

if __name__ == "__main__":
    command, state = sys.argv[1], os.path.abspath(sys.argv[2])
    if command == "setup":
        os.environ["WARDEN_PROVIDER_STATE"] = state
        setup(state, *sys.argv[3:6])
    elif command == "rotate":
        rotate(state)
    elif command == "serve":
        serve(state, *sys.argv[3:7])
    else:
        sys.exit("unknown command " + command)

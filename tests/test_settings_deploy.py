"""Production settings: DEBUG off unless asked for, a secret kept under var/, `check --deploy` clean, and
real error pages (issue 9, point 18). The settings are read in a fresh process, as `make run` would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.template.loader import get_template
from django.test import override_settings
from django.utils import translation

ROOT = Path(__file__).resolve().parents[1]
LONG_SECRET = "x7$Kq2!vR9#mW4@pL8^tN3&zB6*hJ1(cF5)gD0_sA" * 2


def run_python(tmp_path, code, **env_overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "COLLECTIONS_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "COLLECTIONS_VAR_DIR": str(tmp_path / "var")})
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def settings_value(tmp_path, expression, **env):
    done = run_python(
        tmp_path, f"import django; django.setup(); from django.conf import settings; print(repr({expression}))", **env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_debug_is_off_unless_asked_for(tmp_path):
    assert settings_value(tmp_path, "settings.DEBUG") == "False"
    assert settings_value(tmp_path, "settings.DEBUG", DJANGO_DEBUG="1") == "True"


def test_secret_key_is_generated_once_into_var(tmp_path):
    first = settings_value(tmp_path, "settings.SECRET_KEY")
    stored = (tmp_path / "var" / "secret_key").read_text().strip()
    assert first == repr(stored)
    assert len(stored) >= 50 and "insecure" not in stored
    assert settings_value(tmp_path, "settings.SECRET_KEY") == first
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0
    other = tmp_path / "other"
    assert settings_value(other, "settings.SECRET_KEY") != first
    assert settings_value(tmp_path, "settings.SECRET_KEY", DJANGO_SECRET_KEY=LONG_SECRET) == repr(LONG_SECRET)


def test_check_deploy_has_no_security_warning_behind_https(tmp_path):
    done = run_python(
        tmp_path,
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy'])",
        COLLECTIONS_HTTPS="1",
        DJANGO_SECRET_KEY=LONG_SECRET,
    )
    output = done.stdout + done.stderr
    assert "security." not in output, output
    assert "System check identified" in output or "no issues" in output, output


def test_https_settings_follow_the_switches(tmp_path):
    https = dict(COLLECTIONS_HTTPS="1", DJANGO_SECRET_KEY=LONG_SECRET)
    assert settings_value(tmp_path, "settings.SECURE_SSL_REDIRECT", **https) == "True"
    assert (
        settings_value(tmp_path, "(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)", **https)
        == "(True, True)"
    )
    assert settings_value(tmp_path, "settings.SECURE_HSTS_SECONDS", **https, COLLECTIONS_HSTS_SECONDS="600") == "600"
    assert (
        settings_value(tmp_path, "settings.SECURE_PROXY_SSL_HEADER", **https, COLLECTIONS_TRUST_X_FORWARDED_PROTO="1")
        == "('HTTP_X_FORWARDED_PROTO', 'https')"
    )
    # Plain-HTTP demos: none of it, so the log-in still works over http://.
    assert (
        settings_value(
            tmp_path,
            "(settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, "
            "settings.SECURE_HSTS_SECONDS, settings.SECURE_PROXY_SSL_HEADER)",
        )
        == "(False, False, 0, None)"
    )


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_404_is_the_sites_own_page(client, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="pw-12345")
    client.force_login(user)
    answer = client.get("/no-such-page/")
    assert answer.status_code == 404
    body = answer.content.decode()
    assert "Page not found" in body and "base.css" in body and "URLconf" not in body
    assert 'href="/"' in body
    answer = client.get("/")  # a user with no role is refused with the 403 page
    assert answer.status_code == 403


def test_500_page_renders_without_a_request_context():
    with translation.override("en"):
        body = get_template("500.html").render()
    assert "Server error" in body and "base.css" in body and 'lang="en"' in body


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_403_page_is_the_sites_own(rf, django_user_model):
    from django.core.exceptions import PermissionDenied
    from django.views.defaults import permission_denied

    request = rf.get("/queues/")
    request.user = django_user_model.objects.create_user("somebody", password="pw-12345")
    with translation.override("en"):
        body = permission_denied(request, PermissionDenied()).content.decode()
    assert "Access denied" in body and "base.css" in body

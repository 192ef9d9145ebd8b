"""Every link a role sees leads to a page it may open (issue 9, point 16).

Each demo role logs in, opens its desk and every page of its navigation, and follows every same-site
link found on them (one level deep), skipping log-out, forms and downloads: none may answer 4xx/5xx."""

import re
from io import StringIO
from urllib.parse import urldefrag, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from collections_app.selectors.cases import case_queryset

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = ("collector", "field_agent", "supervisor", "legal_officer", "auditor", "admin")
# Downloads (exports, dashboard tables) and the API's schema pages are not pages to walk.
SKIP = re.compile(r"(/accounts/logout/|/download/?$|\.(csv|xlsx|json)$|^/api/|^/i18n/)")
# Links to the same kind of page (one case, one job) are checked up to this many each.
PER_SHAPE = 60


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo", "--cases", "120", "--seed", "7", stdout=StringIO(), stderr=StringIO())


def same_site_links(page, base):
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    out = []
    for href in hrefs:
        href = urldefrag(href)[0]
        if href.startswith(base) and not SKIP.search(urlsplit(href).path):
            out.append(href)
    return out


def shape(url):
    return re.sub(r"\d+", "N", urlsplit(url).path)


@pytest.mark.parametrize("role", ROLES)
def test_every_link_a_role_sees_opens(role, demo, page, live_server, login):
    base = live_server.url
    login(role, "demo12345")
    failures = []

    desk = page.goto(f"{base}/")
    assert desk.status < 400, f"{role}: its desk answered {desk.status}"
    landing = urldefrag(page.url)[0]
    nav = [urldefrag(a)[0] for a in page.eval_on_selector_all(".mainnav a[href]", "els => els.map(e => e.href)")]
    assert nav, f"{role} has no navigation"

    pages, seen, per_shape = [], set(), {}
    for url in dict.fromkeys([landing, *nav]):
        answer = page.goto(url)
        seen.add(url)
        if answer.status >= 400:
            failures.append(f"nav {url} -> {answer.status}")
            continue
        pages.append(url)
        for link in same_site_links(page, base):
            if link in seen:
                continue
            seen.add(link)
            key = shape(link)
            per_shape[key] = per_shape.get(key, 0) + 1
            if per_shape[key] > PER_SHAPE:
                continue
            status = page.request.get(link).status
            if status >= 400:
                failures.append(f"{url} links to {link} -> {status}")
            # Links on a case page (the one level below a list) are what the role meets next.
            if key == "/cases/N/" and per_shape[key] <= 2:
                page.goto(link)
                for inner in same_site_links(page, base):
                    if inner not in seen and not re.search(r"/cases/\d+/$", urlsplit(inner).path):
                        seen.add(inner)
                        inner_status = page.request.get(inner).status
                        if inner_status >= 400:
                            failures.append(f"{link} links to {inner} -> {inner_status}")
                page.goto(url)
    # A case the role may open, whether or not a list above led to one (the auditor's pages may not):
    # its "Worklist" / "Next case" / back links must open too.
    user = get_user_model().objects.get(username=role)
    case = case_queryset(user).order_by("pk").first()
    assert case is not None, f"{role} sees no case in the demo"
    answer = page.goto(f"{base}/cases/{case.pk}/")
    assert answer.status == 200, f"{role}: case {case.pk} answered {answer.status}"
    for link in same_site_links(page, base):
        if not re.search(r"/cases/\d+/$", urlsplit(link).path):
            status = page.request.get(link).status
            if status >= 400:
                failures.append(f"case {case.pk} links to {link} -> {status}")
    assert len(seen) > len(pages), f"{role}: no links found on {pages}"
    assert not failures, f"{role}:\n" + "\n".join(failures)

"""permissions.py is the only who-may (issue 10, point 1): no module of collections_app outside it
names a role or a scope to decide something. Read from the source (ast), so a check written again
in a view, a service, the API, the admin or a template tag fails here with its file and line.

What counts as a who-may check:
- a role or scope constant of roles.py (`r.SUPERVISOR`, `SCOPE_PII_READ`, ...) used anywhere (the
  vocabularies `ALL_ROLES` / `ALL_SCOPES`, which list names without deciding, are fine);
- a scope string literal (`"cases:read"`) used as a value;
- a role name literal (`"supervisor"`) compared, tested with `in`, passed to `has_role`, or given to
  a `groups__name...` / `group__name...` lookup;
- asking an actor directly: `.has_role(...)`, `.has_scope(...)`, `user_roles(...)`.
And templates: no `user.groups`, `is_superuser`, `is_staff`, `user_roles` or role-name comparison.
"""

import ast
import re
from pathlib import Path

from collections_app import roles

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "collections_app"
TEMPLATES = ROOT / "templates"

# Where role and scope names belong, and why.
ALLOWED = {
    "permissions.py": "the table and the question",
    "roles.py": "the names themselves",
    "admin_site.py": "/admin/ for the admin group (operators) only",
    "actors.py": "who is acting: reads a person's groups (a superuser counts as admin)",
    "demo/people.py": "makes the demo users, one per role",
}
VOCABULARIES = {"ALL_ROLES", "ALL_SCOPES"}
ROLE_NAMES = set(roles.ALL_ROLES)
SCOPE_NAMES = set(roles.ALL_SCOPES)
CONSTANTS = {name for name in dir(roles) if name.isupper()} - VOCABULARIES
ASKS = {"has_role", "has_scope", "user_roles"}


def _modules():
    for path in sorted(APP.rglob("*.py")):
        rel = path.relative_to(APP).as_posix()
        if rel.startswith("migrations/") or rel in ALLOWED:
            continue
        yield rel, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_role_literal(node):
    return isinstance(node, ast.Constant) and node.value in ROLE_NAMES


def who_may_outside(rel, tree):
    """(file:line, what) for every who-may check in one module."""
    found = []
    aliases = set()  # names the roles module is bound to here (`from .. import roles as r`)
    imported = set()  # constants imported by name (`from ..roles import SCOPE_PII_READ`)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[-1] == "roles":
                imported |= {a.asname or a.name for a in node.names if a.name in CONSTANTS}
                found += [(f"{rel}:{node.lineno}", f"imports {a.name}") for a in node.names if a.name in CONSTANTS]
            else:
                aliases |= {a.asname or a.name for a in node.names if a.name == "roles"}
    for node in ast.walk(tree):
        where = f"{rel}:{getattr(node, 'lineno', 0)}"
        if (
            isinstance(node, ast.Attribute)
            and node.attr in CONSTANTS
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            found.append((where, f"{node.value.id}.{node.attr}"))
        elif isinstance(node, ast.Name) and node.id in imported and isinstance(node.ctx, ast.Load):
            found.append((where, node.id))
        elif isinstance(node, ast.Constant) and node.value in SCOPE_NAMES:
            found.append((where, repr(node.value)))
        elif isinstance(node, ast.Compare) and any(_is_role_literal(n) for n in [node.left, *node.comparators]):
            found.append((where, "compares a role name"))
        elif isinstance(node, ast.Compare) and any(
            isinstance(n, (ast.Set, ast.List, ast.Tuple)) and any(_is_role_literal(e) for e in n.elts)
            for n in [node.left, *node.comparators]
        ):
            found.append((where, "tests membership in role names"))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ASKS:
                found.append((where, f"asks {name}()"))
            for kw in node.keywords:
                if (
                    kw.arg
                    and re.match(r"groups?__name", kw.arg)
                    and any(_is_role_literal(n) for n in ast.walk(kw.value))
                ):
                    found.append((where, f"{kw.arg}= a role name"))
    return found


def test_no_who_may_outside_permissions_py():
    found = [hit for rel, tree in _modules() for hit in who_may_outside(rel, tree)]
    assert found == [], "who-may outside permissions.py:\n" + "\n".join(f"{w}: {what}" for w, what in found)


def test_the_check_finds_a_who_may_written_again():
    """The guard itself: each shape it looks for is found in a module written the old way."""
    source = """
from .. import roles as r
from ..roles import SCOPE_PII_READ, ALL_SCOPES
from ..actors import user_roles

def view(actor, user, qs):
    if not (actor.is_superuser or actor.has_role(r.AUDITOR, r.ADMIN)):
        raise PermissionDenied
    if actor.has_scope("cases:read") or SCOPE_PII_READ in actor.scopes:
        pass
    if "supervisor" in user_roles(user) or actor.role == "collector":
        pass
    if actor.kind in ("auditor", "admin"):
        pass
    return qs.filter(groups__name="field_agent"), ALL_SCOPES
"""
    found = {what for _where, what in who_may_outside("example.py", ast.parse(source))}
    assert found >= {
        "imports SCOPE_PII_READ",
        "r.AUDITOR",
        "r.ADMIN",
        "asks has_role()",
        "asks has_scope()",
        "'cases:read'",
        "SCOPE_PII_READ",
        "asks user_roles()",
        "compares a role name",
        "tests membership in role names",
        "groups__name= a role name",
    }
    assert not any("ALL_SCOPES" in what for what in found)


TEMPLATE_ROLE_CHECK = re.compile(
    r"user\.groups|is_superuser|is_staff|user_roles|is_supervisor|role\s*==|==\s*['\"]("
    + "|".join(sorted(ROLE_NAMES))
    + r")['\"]|['\"]("
    + "|".join(sorted(ROLE_NAMES))
    + r")['\"]\s+in\b"
)


def test_templates_ask_abilities_not_roles():
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")) + sorted(APP.rglob("templates/**/*.html")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            tags = " ".join(re.findall(r"{%.*?%}|{{.*?}}", line))
            if TEMPLATE_ROLE_CHECK.search(tags):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == [], "role checks in templates:\n" + "\n".join(found)

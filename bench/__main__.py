"""python -m bench {sweep,reminders,pages,api,imports} [options]   (run from the project root with the venv's python)"""

import argparse
import sys

from .db import DEFAULT_URL


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        from .child import main as child_main

        return child_main(argv[1:])
    from . import api, imports, pages, reminders, sweep

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, module, summary in (
        ("sweep", sweep, "the daily escalation sweep vs bare SQL and the per-case loop"),
        ("reminders", reminders, "reminder planning and dispatch vs one-row-at-a-time"),
        ("pages", pages, "worklist, case page and dashboard server time vs their bare SQL"),
        ("api", api, "the REST API under gunicorn vs a constant and a minimal DRF detail view"),
        ("imports", imports, "a million CSV instalment rows imported vs PostgreSQL's COPY into a bare table"),
    ):
        sub = commands.add_parser(
            name, help=summary, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        sub.add_argument(
            "--database-url",
            help=f"PostgreSQL URL; the name must start with 'bench' (default: $DATABASE_URL, else {DEFAULT_URL})",
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.command)
    opts = parser.parse_args(argv)
    return opts.run(opts)


if __name__ == "__main__":
    sys.exit(main())

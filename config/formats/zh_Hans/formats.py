"""Simplified Chinese formats: Django's input formats, and the display formats both languages share
(Django's zh_Hans has no thousands separator and would group by 4)."""

from django.conf.locale.zh_Hans.formats import *  # noqa: F401,F403  (input formats and the rest)

from config.formats.shared import *  # noqa: F401,F403,E402

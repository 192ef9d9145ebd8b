"""English formats: Django's input formats, and the display formats both languages share."""

from django.conf.locale.en.formats import *  # noqa: F401,F403  (input formats and the rest)

from config.formats.shared import *  # noqa: F401,F403,E402

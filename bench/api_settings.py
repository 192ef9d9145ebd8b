"""Settings for `python -m bench api`: the app's own settings (from the environment, as in
production), with the URLs of bench.api_baseline: config.urls plus the two reference endpoints."""

from config.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.api_baseline"

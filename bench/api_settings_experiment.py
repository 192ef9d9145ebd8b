"""Settings for the experiment phase of `python -m bench api`: bench.api_settings with the URLconf
bench.api_experiment, which applies the experiment (one-query case detail, cached token lookup and
buckets) in each gunicorn worker before its first request is resolved."""
from .api_settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.api_experiment"

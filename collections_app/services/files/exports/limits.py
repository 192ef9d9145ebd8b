"""How big an export may be before it goes to a worker, and how many rows one read fetches.

Settings (defaults here, so no settings change is needed): `COLLECTIONS_EXPORT_INLINE_MAX_ROWS`
(50,000), `COLLECTIONS_EXPORT_INLINE_MAX_ROWS_XLSX` (10,000: openpyxl writes about 2,000-3,000
rows a second here and an XLSX cannot be sent before it is complete, so a larger one would keep the
request past a worker's timeout; a CSV streams as it is read) and `COLLECTIONS_EXPORT_CHUNK_SIZE`
(2,000 rows a query)."""

from django.conf import settings

DEFAULT_INLINE_MAX_ROWS = 50_000
DEFAULT_INLINE_MAX_ROWS_XLSX = 10_000
DEFAULT_CHUNK_SIZE = 2_000


def inline_max_rows(fmt="csv"):
    limit = int(getattr(settings, "COLLECTIONS_EXPORT_INLINE_MAX_ROWS", DEFAULT_INLINE_MAX_ROWS))
    if fmt == "xlsx":
        limit = min(
            limit, int(getattr(settings, "COLLECTIONS_EXPORT_INLINE_MAX_ROWS_XLSX", DEFAULT_INLINE_MAX_ROWS_XLSX))
        )
    return limit


def chunk_size():
    return max(1, int(getattr(settings, "COLLECTIONS_EXPORT_CHUNK_SIZE", DEFAULT_CHUNK_SIZE)))


def more_than(queryset, limit):
    """Does the query have more than `limit` rows? Counts at most limit + 1 ids (a bounded scan,
    never a full COUNT of a million rows)."""
    return queryset.prefetch_related(None).order_by().values("pk")[: limit + 1].count() > limit

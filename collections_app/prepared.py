"""A read compiled to SQL once per process and database, then run with fresh parameters.

Django compiles a queryset to SQL on every evaluation. For a hot read whose shape never changes
(the API's case detail) compiling costs more than the database does, so it is done once: `build`
returns a values_list() queryset that uses `PLACEHOLDER` where the parameter goes and nothing else
that varies between calls (no time taken in Python: use `Now()`). Rows come back through the
compiler's own converters, so values are what the ORM would give. The compiler's `as_sql`,
`get_converters` and `apply_converters` are what QuerySet evaluation itself runs.
"""

from django.db import connections

PLACEHOLDER = -7_654_321_987  # an id no row has; it marks the parameter's places in the SQL


class PreparedQuery:
    def __init__(self, build):
        self._build = build
        self._compiled = {}

    def _compile(self, using):
        compiled = self._compiled.get(using)
        if compiled is None:
            queryset = self._build().using(using)
            compiler = queryset.query.get_compiler(using=using)
            sql, params = compiler.as_sql()
            slots = [i for i, value in enumerate(params) if value == PLACEHOLDER]
            if not slots:
                raise ValueError("the prepared query does not use PLACEHOLDER")
            converters = compiler.get_converters([column for column, _sql, _alias in compiler.select])
            compiled = self._compiled[using] = (sql, tuple(params), slots, compiler, converters)
        return compiled

    def first(self, value, using="default"):
        """The first row for `value` (a tuple in the order of the values_list), or None."""
        sql, params, slots, compiler, converters = self._compile(using)
        params = list(params)
        for slot in slots:
            params[slot] = value
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        if converters:
            row = next(iter(compiler.apply_converters([row], converters)))
        return tuple(row)

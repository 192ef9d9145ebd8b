"""What an import can refuse: the whole file (FileRefused), or one row (RowRefused, with every
bad column named)."""


class FileRefused(Exception):
    """The file cannot be imported at all (unreadable, wrong format, required columns missing)."""

    def __init__(self, message):
        self.message = str(message)
        super().__init__(self.message)


class RowRefused(Exception):
    """One row is refused; `problems` is a list of (column, value, reason)."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(f"{c}: {r}" for c, _v, r in self.problems))

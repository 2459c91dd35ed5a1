"""The one exception type for user mistakes: the CLI prints its message as one line, with no traceback."""


class InputError(Exception):
    """Bad input from the user: a file, a row, a setting. The message names it and says what was expected."""

"""The one error type of the command line: a problem with what the person asked for, printed as
one sentence with exit status 2 (engine/cli.py's `main` catches it for every command)."""


class UsageError(Exception):
    pass

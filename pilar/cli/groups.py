"""How commands report errors: a broken setup in one line (status 2), a failure (1)."""

from __future__ import annotations

from typing import IO
from typing import Any

import click
import sqlalchemy as sa

from pilar.errors import ConfigurationError
from pilar.errors import NodeUnavailableError
from pilar.errors import PilarError
from pilar.errors import first_line


class SetupError(click.ClickException):
    """A configuration error or a database out of reach: exit status 2, one line."""

    exit_code = 2


class CommandGroup(click.Group):
    """Report a database out of reach or a setting missing in one line (status 2).

    A command that ran and failed exits with 1; one that could not run for
    its setup, with 2, as a usage error does.
    """

    # Any: click types a command's result as Any.
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except sa.exc.OperationalError as err:
            raise SetupError(
                f"The database is unavailable ({first_line(err)})."
            ) from err
        except NodeUnavailableError as err:
            raise SetupError(f"Node {err.node!r} is unavailable.") from err
        except ConfigurationError as err:
            raise SetupError(str(err)) from err


class ReportedFailure(click.ClickException):
    """The end of a report that says what failed (migrate, doctor): status 1.

    Printed as the rest of the report is, on stdout and without "Error: ",
    so a report sent to a file stays whole and reads the same as one that
    found nothing wrong.
    """

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), file=file)


def fail(error: PilarError) -> click.ClickException:
    """Return the error of a command that ran and failed (exit status 1).

    One line for the error, then one per field's message: an import refused
    for its conflicts lists every one of them.
    """
    details = "".join(
        f"\n  {field}: {message}"
        for field, messages in (error.errors or {}).items()
        for message in (messages if isinstance(messages, list) else [messages])
    )
    return click.ClickException(error.message + details)

"""``queue-rebate operator …``: operator accounts and their API tokens, from the command line.

    operator add NAME --role ROLE [--password-stdin]   a new account (password prompted, or
                                                        the first line of stdin)
    operator passwd NAME [--password-stdin]            a new password (ends their sessions)
    operator role NAME ROLE                            another role
    operator disable NAME / operator enable NAME       disabled: no login, tokens refused
    operator list                                      accounts, roles, state
    operator token issue NAME [--ttl 30d] [--label L]  an API token (printed once)
    operator token list [NAME]                         tokens, with their ids
    operator token revoke TOKEN_ID                     refused from the next request on

Changes are recorded in the operation log as ``cli:<login name>``. Tokens are signed with
``[auth] admin_token_secret`` (``QR_ADMIN_TOKEN_SECRET``): the server must use the same one.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from datetime import timedelta
from typing import TextIO

from runtime.config import Settings
from runtime.errors import CommandError
from server.database import opened, require_migrated

ROLES = ("owner", "finance", "operations", "support")
DEFAULT_TOKEN_TTL = "30d"
_TTL = re.compile(r"([0-9]{1,6})([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def add_arguments(sub: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """The ``operator`` command's sub-commands, on its parser (each takes ``common``'s options,
    ``--config`` and ``--db``)."""
    actions = sub.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[common], help="add an operator account")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, choices=ROLES, help="what the operator may do")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    passwd = actions.add_parser("passwd", parents=[common], help="set an operator's password")
    passwd.add_argument("name", metavar="NAME")
    passwd.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    role = actions.add_parser("role", parents=[common], help="change an operator's role")
    role.add_argument("name", metavar="NAME")
    role.add_argument("role", choices=ROLES)
    for verb in ("disable", "enable"):
        actions.add_parser(verb, parents=[common], help=f"{verb} an operator account").add_argument(
            "name"
        )
    actions.add_parser("list", parents=[common], help="list operator accounts")
    token = actions.add_parser("token", help="API tokens: issue, list, revoke")
    token_actions = token.add_subparsers(dest="token_action", required=True, metavar="ACTION")
    issue = token_actions.add_parser(
        "issue", parents=[common], help="issue an API token to an operator"
    )
    issue.add_argument("name", metavar="NAME")
    issue.add_argument("--ttl", default=DEFAULT_TOKEN_TTL, help="lifetime: 3600, 90m, 12h, 30d")
    issue.add_argument("--label", default="", help="what the token is for (shown in lists)")
    listing = token_actions.add_parser("list", parents=[common], help="list API tokens")
    listing.add_argument("name", nargs="?", metavar="NAME")
    token_actions.add_parser("revoke", parents=[common], help="revoke an API token").add_argument(
        "token_id"
    )


def parse_ttl(text: str) -> timedelta:
    match = _TTL.fullmatch(text.strip())
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if match else 0
    if seconds < 60 or seconds > 366 * 86400:
        raise CommandError(f"--ttl: {text!r} is not a lifetime from 60s to 366d (e.g. 12h, 30d)")
    return timedelta(seconds=seconds)


def read_password(args: argparse.Namespace, stdin: TextIO) -> str:
    """The new password: stdin's first line with ``--password-stdin``, else asked twice."""
    from services.operators.passwords import password_problem

    if args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise CommandError("the passwords differ")
    problem = password_problem(password)
    if problem:
        raise CommandError(problem)
    return password


async def run_operator_command(
    settings: Settings, args: argparse.Namespace, out: TextIO, stdin: TextIO, *, by: str
) -> int:
    """Run ``operator …``; ``by`` is who runs it, for the operation log."""
    from rebate.errors import RebateError

    url = settings.database.url
    async with opened(url, must_exist=True):
        await require_migrated(url)
        try:
            if args.action == "token":
                return await _token_command(settings, args, out, by)
            return await _account_command(args, out, stdin, by)
        except RebateError as exc:  # not found, already exists
            raise CommandError(_english(exc)) from None


def _english(exc: Exception) -> str:
    code = getattr(exc, "code", "")
    field = getattr(exc, "field", "")
    if code == "not_found":
        return f"no such {'token' if field == 'token_id' else 'operator'}"
    if code == "conflict":
        return "an operator of that name exists already"
    return str(exc)


async def _account_command(args: argparse.Namespace, out: TextIO, stdin: TextIO, by: str) -> int:
    from services.clock import utcnow
    from services.operators import accounts
    from services.operators.roles import Role

    now = utcnow()
    if args.action == "list":
        return await _list_operators(out)
    if args.action == "add":
        problem = accounts.name_problem(args.name)
        if problem:
            raise CommandError(problem)
        await accounts.add_operator(
            args.name, Role(args.role), read_password(args, stdin), by=by, now=now
        )
        print(f"Added operator {args.name} ({args.role}).", file=out)
    elif args.action == "passwd":
        await accounts.set_password(args.name, read_password(args, stdin), by=by, now=now)
        print(f"Password of {args.name} changed; their sessions ended.", file=out)
    elif args.action == "role":
        await accounts.set_role(args.name, Role(args.role), by=by, now=now)
        print(f"{args.name} is now {args.role}.", file=out)
    else:
        disabled = args.action == "disable"
        await accounts.set_disabled(args.name, disabled, by=by, now=now)
        print(
            f"{args.name} {'disabled: sessions ended, tokens refused' if disabled else 'enabled'}.",
            file=out,
        )
    return 0


async def _list_operators(out: TextIO) -> int:
    from services.clock import utcnow
    from services.operators.accounts import list_operators

    now = utcnow()
    for op in await list_operators():
        state = "disabled" if op.disabled else "active"
        if op.locked_until is not None and op.locked_until > now:
            state += f", locked until {op.locked_until.isoformat(timespec='seconds')}"
        last = op.last_login_at.isoformat(timespec="seconds") if op.last_login_at else "never"
        print(f"{op.name:<32} {op.role:<11} {state:<10} last login {last}", file=out)
    return 0


async def _token_command(settings: Settings, args: argparse.Namespace, out: TextIO, by: str) -> int:
    from services.clock import utcnow
    from services.operators import tokens

    now = utcnow()
    if args.token_action == "list":
        for row in await tokens.list_tokens(args.name):
            state = (
                "revoked" if row.revoked_at else ("expired" if row.expires_at <= now else "valid")
            )
            print(
                f"{row.id}  {row.operator.name:<32} {state:<8} expires "
                f"{row.expires_at.isoformat(timespec='seconds')}  {row.label}",
                file=out,
            )
        return 0
    if args.token_action == "revoke":
        await tokens.revoke(args.token_id, by=by, now=now)
        print(f"Token {args.token_id} revoked: refused from the next request on.", file=out)
        return 0
    return await _issue_token(settings, args, out, by)


async def _issue_token(settings: Settings, args: argparse.Namespace, out: TextIO, by: str) -> int:
    from services.clock import utcnow
    from services.operators import tokens
    from web.auth import TokenSigner

    if not settings.auth.admin_token_secret:
        raise CommandError(
            "no [auth] admin_token_secret (or QR_ADMIN_TOKEN_SECRET): a token signed with a "
            "random secret would not work in the server"
        )
    ttl = parse_ttl(args.ttl)
    row = await tokens.issue(args.name, ttl=ttl, label=args.label, by=by, now=utcnow())
    signer = TokenSigner(
        member_secret="unused",
        admin_secret=settings.auth.admin_token_secret,
        member_ttl=60,
        admin_ttl=int(ttl.total_seconds()),
    )
    token = signer.issue_admin(tokens.subject_of(row.id))
    print(
        f"Token {row.id} for {args.name}, valid until {row.expires_at.isoformat(timespec='seconds')}:",
        file=out,
    )
    print(token, file=out)
    print("It is shown once. Send it as: Authorization: Bearer <token>", file=sys.stderr)
    return 0

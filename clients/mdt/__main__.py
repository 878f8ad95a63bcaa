"""`python -m clients.mdt --server URL --user NAME`: the MDT without the `alpr` command."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from clients.mdt.ui import run_mdt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.mdt", description="A terminal MDT: live alerts "
                                     "by priority, mismatches highlighted, and the verification steps.")
    parser.add_argument("--server", required=True, help="the server's base URL, e.g. https://alpr.example.org")
    parser.add_argument("--user", required=True, help="your username")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    args = parser.parse_args(argv)
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else getpass.getpass("Password: ")
    return asyncio.run(run_mdt(args.server, args.user, password))


if __name__ == "__main__":
    sys.exit(main())

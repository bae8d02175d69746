"""Exit 0 when the PostgreSQL server in argv[1] accepts a connection."""

from __future__ import annotations

import sys


def main(url: str) -> int:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.Error:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

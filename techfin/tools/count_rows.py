"""Print how many enterprises and funders the configured database holds (0 = empty)."""

from __future__ import annotations


def main() -> None:
    from techfin import create_app
    from techfin.extensions import db
    from techfin.models import Organization

    app = create_app()
    with app.app_context():
        print(db.session.scalar(db.select(db.func.count()).select_from(Organization)))


if __name__ == "__main__":
    main()

"""The cheapest question a database answers: is it there? (`/ready`)"""

from sqlalchemy import text

from app.db.database import Database


async def ping(db: Database) -> None:
    await db.run(lambda conn: conn.execute(text("SELECT 1")))

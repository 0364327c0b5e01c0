"""A listener's memory of the events it took: bounded, oldest forgotten first, and an event whose handling failed
taken again when delivered again; its tasks are cancelled together at stop."""

import asyncio

from app.nostr.listening import ListenerTasks, RecentEvents


def test_recent_events_forget_the_oldest_beyond_their_limit_and_on_request() -> None:
    recent: RecentEvents[str] = RecentEvents(limit=2)
    recent.remember("a", "alice")
    recent.remember("b", "bob")
    recent.remember("c", "carol")
    assert "a" not in recent and recent.get("b") == "bob" and recent.get("c") == "carol"
    recent.forget("b")
    recent.forget("never seen")
    assert "b" not in recent and recent.get("b") is None


def test_tasks_still_running_are_cancelled_at_stop() -> None:
    async def run() -> list[bool]:
        tasks, started = ListenerTasks(), asyncio.Event()

        async def forever() -> None:
            started.set()
            await asyncio.Event().wait()

        async def quick() -> None:
            return None

        tasks.spawn(forever(), "forever")
        tasks.spawn(quick(), "quick")
        await started.wait()
        running = list(asyncio.all_tasks() - {asyncio.current_task()})
        await tasks.cancel_all()
        return [task.cancelled() for task in running]

    assert asyncio.run(run()) == [True]

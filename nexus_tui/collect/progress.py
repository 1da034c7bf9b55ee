"""How far a collector pass got, on one terminal line (``ingest``, ``collect`` and the headless reports' pass): a
cold pass over a long history takes seconds to minutes, and said nothing until its report."""

from __future__ import annotations


def on_terminal(collector, stream):
    """``show`` when ``stream`` is a terminal (never into a pipe or a file); the function that stops it, or None."""
    return show(collector, stream) if _is_tty(stream) else None


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def show(collector, stream, first_after: float = 1.0, every: float = 0.5):
    """On a terminal, a pass that lasts (a cold ingest of a long history: seconds to minutes) says how far it got on
    one line, rewritten in place (``reading 640 of 1,887 files (312.4 of 1,003.5 MB)…``) and erased when it ends;
    nothing for a pass shorter than ``first_after`` seconds. Returns the function that stops it."""
    import shutil
    import threading

    from nexus_tui.core.fmt import plural

    width = max(20, shutil.get_terminal_size().columns - 1)  # one row: a wrapped line is not rewritten by \r

    done = threading.Event()
    shown = [False]

    def loop() -> None:
        if done.wait(first_after):
            return
        while True:
            cur = collector.running
            if cur is not None and cur.files_todo:
                line = (f"reading {cur.files_read:,} of {plural(cur.files_todo, 'file')} "
                        f"({cur.bytes_read / 1e6:,.1f} of {cur.bytes_todo / 1e6:,.1f} MB)…")
                try:
                    stream.write("\r" + line[:width] + "\x1b[K")
                    stream.flush()
                    shown[0] = True
                except (OSError, ValueError):
                    return
            if done.wait(every):
                return

    t = threading.Thread(target=loop, name="ingest-progress", daemon=True)
    t.start()

    def stop() -> None:
        done.set()
        t.join()
        if shown[0]:
            try:
                stream.write("\r\x1b[K")  # the report is printed where the progress was
                stream.flush()
            except (OSError, ValueError):
                pass

    return stop

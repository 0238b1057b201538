"""Running callables in threads and re-raising their errors in the caller (A3C, DNI)."""

import threading


def run_threads(targets, on_error=None, quiet=()):
    """Runs each callable of `targets` in its own thread and waits for all of them.

    Args:
      targets: callables taking no arguments; `(name, callable)` pairs name
        their threads.
      on_error: None, or a callable run (in the failing thread) after a
        target raises, so that the others can stop.
      quiet: exception classes a target may raise to stop without error
        (e.g. after another target failed).

    Raises:
      The first exception any target raised, once every thread has ended.
    """
    errors = []

    def guarded(target):
        try:
            target()
        except tuple(quiet):
            pass
        except Exception as error:  # noqa: BLE001  (re-raised in the caller's thread)
            errors.append(error)
            if on_error is not None:
                on_error()

    threads = []
    for target in targets:
        name, target = target if isinstance(target, tuple) else (None, target)
        threads.append(threading.Thread(target=guarded, args=(target,), name=name, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]

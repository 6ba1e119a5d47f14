"""A real acquirer stand-in for tests, benches and demos.

``ledger``     what the host saw and posted (its own SQLite file, no clear PAN);
``rules``      deterministic fault injection: decline, delay, drop, close, bad MAC ...;
``processor``  the sans-IO host: ``respond(payload) -> Answer`` (the ``InProcessHost``
               protocol of ``hal.base``, used in-process by the ``sim://`` link);
``server``     the same processor behind a real TCP socket;
``cli``        ``posterm host-sim``.
"""

"""The ISO 8583 host protocol: message layouts as data, a codec, and message builders.

``spec``      what a profile is (field layouts, MTIs, transaction table), validated;
``profiles``  the concrete profiles (``cup``, ``iso87``), built lazily by name;
``codec``     ``encode``/``decode`` between ``Message`` and payload bytes (MAC included);
``messages``  building requests, reversals, advices and responses, and reading replies.

Nothing here does I/O: the link adds the 2-byte length and moves the bytes.
"""

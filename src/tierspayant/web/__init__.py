"""The professionals' portal: server-rendered pages in French (``/portail``), signed in with a
passkey or Pro Santé Connect, served by the same application as the API (``web/app.py``).
It calls ``services/`` as ``api/`` does, never ``store/``; its web security (cookies, CSRF,
Content-Security-Policy, caching) is in ``web/session.py`` and ``web/headers.py``."""

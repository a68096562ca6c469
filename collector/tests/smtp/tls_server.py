#!/usr/bin/env python3
"""An SMTP server for the email channel's TLS test: aiosmtpd (PyPI) with STARTTLS
required, or implicit TLS (SMTPS), and AUTH checked against one user.

Usage: tls_server.py starttls|implicit PORT CERT KEY USER PASSWORD OUTDIR
Prints "ready" when listening; each accepted message is written to OUTDIR.
"""

import ssl
import sys
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

mode, port, cert, key, user, password, outdir = sys.argv[1:8]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
count = 0


class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        ssl_object = server.transport.get_extra_info("ssl_object")
        tls = "tls" if ssl_object is not None else "plain"
        Path(outdir, f"{count}.eml").write_bytes(
            f"X-Test-Transport: {tls}\r\nX-Test-Auth: {session.authenticated}\r\n".encode()
            + envelope.content
        )
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == user.encode()
        and auth_data.password == password.encode()
    )
    # handled=False: aiosmtpd answers 535 itself (its default assumes we already did).
    return AuthResult(success=ok, handled=False)


common = dict(hostname="127.0.0.1", port=int(port), authenticator=authenticate)
if mode == "starttls":
    controller = Controller(
        Handler(),
        tls_context=ctx,
        require_starttls=True,
        auth_require_tls=True,
        **common,
    )
else:
    # The whole connection is TLS; aiosmtpd's auth_require_tls only knows STARTTLS.
    controller = Controller(
        Handler(), ssl_context=ctx, auth_require_tls=False, **common
    )
controller.start()
print("ready", flush=True)
threading.Event().wait()

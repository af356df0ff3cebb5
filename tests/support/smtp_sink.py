"""A loopback SMTP server for the tests: aiosmtpd (PyPI) accepts every message and writes it,
decoded, as one JSON file per message into the directory given as the first argument.

Usage: python smtp_sink.py DIR   (prints the port it listens on, then serves until killed)
"""

import asyncio
import email
import email.policy
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        plain = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_to": list(envelope.rcpt_tos),
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "text": plain.get_content() if plain is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        tmp = os.path.join(self.directory, f".{self.count:06d}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        # Renamed into place: a reader never sees half a message.
        os.rename(tmp, os.path.join(self.directory, f"{self.count:06d}.json"))
        return "250 OK"


async def main():
    sink = Sink(sys.argv[1])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())

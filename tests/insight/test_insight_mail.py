"""With ``FIELDHUB_SMTP_URL`` a new user's set-password link is mailed (to a minimal local SMTP server)."""

from __future__ import annotations

import email
import socketserver
import threading
from collections.abc import Iterator
from email.message import Message

import pytest
from insight_support import PREFIX, Customer, custom_api

from fieldhub.core.config import Settings
from free_ports import free_port

NEW_USER = {"first_name": "Ann", "last_name": "Lee", "role": "USER_ROLE", "email": "ann@example.com"}


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 test ready")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command == "DATA":
                self.reply("354 go on")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                self.server.messages.append(email.message_from_bytes(data))  # type: ignore[attr-defined]
                self.reply("250 stored")
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[Message]]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], server.messages  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_new_user_receives_a_working_link_by_mail(
    settings: Settings, smtp_server: tuple[int, list[Message]]
) -> None:
    port, messages = smtp_server
    with custom_api(settings, smtp_url=f"smtp://127.0.0.1:{port}", smtp_from="hub@example.com") as api:
        customer = Customer.build(api)
        assert customer.post("/users", NEW_USER).status_code == 200
        assert len(messages) == 1
        message = messages[0]
        assert (message["To"], message["From"]) == ("ann@example.com", "hub@example.com")
        body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
        link = next(line for line in body.splitlines() if "#token=" in line)
        assert link.startswith(f"{settings.issuer}{PREFIX}/set-password#token=")
        token = link.split("#token=")[1]
        answer = api.client.post(f"{PREFIX}/set-password", json={"token": token, "password": "anns-password"})
        assert answer.status_code == 204


def test_unreachable_mail_server_does_not_fail_the_creation(settings: Settings) -> None:
    with custom_api(settings, smtp_url=f"smtp://127.0.0.1:{free_port()}") as api:
        customer = Customer.build(api)
        assert customer.post("/users", NEW_USER).status_code == 200
        assert customer.get("/users").json()["metadata"]["size"] == 3

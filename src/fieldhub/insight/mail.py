"""Sends a new user their set-password link through ``FIELDHUB_SMTP_URL`` when one is configured."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

SMTP_TIMEOUT_SECONDS = 10

log = logging.getLogger("fieldhub.insight.mail")


def set_password_message(*, sender: str, recipient: str, link: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = "Your fieldhub Insight account"
    message.set_content(
        f"An account was created for you.\n\nChoose your password here (the link works once):\n{link}\n"
    )
    return message


def send(smtp_url: str, message: EmailMessage) -> None:
    """Delivers ``message``; a failure is logged, never raised: the user exists either way, and an
    admin can show a new link with ``fieldhub user set-password-link``."""
    parts = urlsplit(smtp_url)
    secure = parts.scheme == "smtps"
    try:
        smtp_class = smtplib.SMTP_SSL if secure else smtplib.SMTP
        with smtp_class(
            parts.hostname or "localhost", parts.port or (465 if secure else 25), timeout=SMTP_TIMEOUT_SECONDS
        ) as client:
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        # The message holds the link (a secret): only the failure's kind is logged.
        log.warning("could not send mail to a new user: %s", type(exc).__name__)

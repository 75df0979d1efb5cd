"""The outbox's SMTP mailer (the `Mailer` port of `services/outbox.py`), on smtplib.

- `smtps://`: TLS from the first byte; `smtp://`: plain SMTP, upgraded with STARTTLS when
  the server offers it — and refused when it does not, outside local/test (`require_tls`);
  certificates are verified (the default SSL context);
- 10 s timeout on the connection and every reply; one connection per mail;
- a 4xx reply, no connection or a dropped one is a `MailError` without a 5xx code (the
  dispatcher retries it with backoff); a 5xx reply is permanent (it gives up);
- the password (in the URL locally, from Secrets Manager on AWS) is never logged or put
  in an error.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from dataops.config import Settings, SmtpSettings
from dataops.domain.errors import ConfigurationError
from dataops.domain.mail import Mail
from dataops.services.outbox import MailError

TIMEOUT = 10.0


def compose(sender: str, to: str, mail: Mail, message_id: str) -> EmailMessage:
    """The MIME message: plain text with an HTML alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.rpartition("@")[2] or "dataops.invalid"
    message["Message-ID"] = make_msgid(idstring=message_id, domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


class SmtpMailer:
    def __init__(self, smtp: SmtpSettings, sender: str, password: str | None = None) -> None:
        self._smtp = smtp
        self._sender = sender
        self._password = password if password is not None else smtp.password

    def __repr__(self) -> str:
        return f"SmtpMailer({self._smtp.shown}, from {self._sender})"

    def send(self, to: str, mail: Mail, message_id: str) -> None:
        message = compose(self._sender, to, mail, message_id)
        where = f"{self._smtp.host}:{self._smtp.port}"
        try:
            with self._connect() as client:
                if self._smtp.username:
                    client.login(self._smtp.username, self._password or "")
                refused = client.send_message(message, self._sender, [to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (None, b""))
            raise MailError(f"SMTP {code} {_text(text)} (recipient refused)", code) from None
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}", exc.smtp_code
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise MailError(f"{where} does not offer what was asked (AUTH)") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"{where}: {type(exc).__name__}: {_text(str(exc))}") from None
        if refused:
            code, text = next(iter(refused.values()))
            raise MailError(f"SMTP {code} {_text(text)} (recipient refused)", code)

    def _connect(self) -> smtplib.SMTP:
        smtp = self._smtp
        context = ssl.create_default_context()
        if smtp.implicit_tls:
            return smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=TIMEOUT, context=context)
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT)
        try:
            client.ehlo()
            if client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            elif smtp.require_tls:
                raise MailError(
                    f"{smtp.host}:{smtp.port} does not offer STARTTLS, which is required "
                    f"outside local/test (use smtps:// or a server with STARTTLS)"
                )
        except BaseException:
            client.close()
            raise
        return client


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return " ".join(text.split())[:300]


def build_mailer(settings: Settings) -> SmtpMailer | None:
    """The mailer the settings describe, or None without `DATAOPS_SMTP_URL`. On AWS the
    password is read once from Secrets Manager (`DATAOPS_SMTP_PASSWORD_SECRET_NAME`)."""
    if settings.smtp is None:
        return None
    if settings.mail_from is None:
        raise ConfigurationError("DATAOPS_SMTP_URL needs DATAOPS_MAIL_FROM")
    password = None
    if settings.smtp_password_secret_name:
        from dataops.runtime import secret_from_secrets_manager

        password = secret_from_secrets_manager(
            settings.smtp_password_secret_name, "DATAOPS_SMTP_PASSWORD_SECRET_NAME", "SMTP password"
        )
    return SmtpMailer(settings.smtp, settings.mail_from, password)

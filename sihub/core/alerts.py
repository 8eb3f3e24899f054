"""Alerts for the analyst who was not watching, about runs that could not publish and
partner deliveries that are overdue: a JSON file in `operations/alerts/` (what failed, which
partner, the one-line reason, where the logs are) and, when configured, the same sent to a
webhook (`SIHUB_ALERT_WEBHOOK`, a URL that takes a JSON POST) or by e-mail
(`SIHUB_ALERT_SMTP` host[:port], `SIHUB_ALERT_TO`, `SIHUB_ALERT_FROM`). A delivery that
fails is noted in the file; it never hides the alert. Alerts name stages, checks and partners,
never a value from the data.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import smtplib
import urllib.request
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path

from sihub.core.atomic_files import write_text_atomically


@dataclass
class RunAlert:
    run_id: str
    failed: str  # the step or check that stopped the run
    partner: str | None
    reason: str  # one line
    logs: str  # where to read more
    kind: str = "run_failed"  # or "delivery_overdue", "delivery_held", "metrics_held_back"
    at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    delivered: list[str] = field(default_factory=list)

    @property
    def subject(self) -> str:
        if self.kind == "delivery_overdue":
            return f"Safeguarding Intelligence Hub: {self.failed}"
        if self.kind == "delivery_held":
            return f"Safeguarding Intelligence Hub: {self.failed} held"
        if self.kind == "metrics_held_back":
            return f"Safeguarding Intelligence Hub: published, but {self.failed}"
        return f"Safeguarding Intelligence Hub: refresh failed at {self.failed}"


def _send(alert: RunAlert) -> list[str]:
    outcome = []
    body = json.dumps(asdict(alert), indent=2)
    if url := os.environ.get("SIHUB_ALERT_WEBHOOK"):
        try:
            request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=10).close()
            outcome.append("webhook: sent")
        except OSError as err:
            outcome.append(f"webhook: not sent ({type(err).__name__})")
    if (host := os.environ.get("SIHUB_ALERT_SMTP")) and (to := os.environ.get("SIHUB_ALERT_TO")):
        message = EmailMessage()
        message["Subject"], message["To"] = alert.subject, to
        message["From"] = os.environ.get("SIHUB_ALERT_FROM", "sihub@localhost")
        message.set_content(body)
        name, _, port = host.partition(":")
        try:
            with smtplib.SMTP(name, int(port or 25), timeout=10) as smtp:
                smtp.send_message(message)
            outcome.append("e-mail: sent")
        except OSError as err:
            outcome.append(f"e-mail: not sent ({type(err).__name__})")
    return outcome


def raise_alert(operations: Path, alert: RunAlert, name: str | None = None) -> Path | None:
    """Write the alert to `operations/alerts/` (and send it where configured); returns the file.
    With `name`, an alert already raised under that name is not raised again (None). An alert
    can give a delivery's exact rows (3 of 40 quarantined): the data team's, not a tier's."""
    folder = operations / "alerts"
    path = folder / f"{name or alert.at.replace(':', '').replace('+0000', 'Z') + '-' + alert.run_id[:8]}.json"
    if path.exists():
        return None
    alert.delivered = _send(alert)
    folder.mkdir(parents=True, exist_ok=True)
    # whole or not at all: a half-written file would read as raised, and never be raised again
    return write_text_atomically(path, json.dumps(asdict(alert), indent=2))

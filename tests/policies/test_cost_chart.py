"""The daily cost report as HTML with its chart, from Cost Explorer through moto's server, rendered by a real
browser (Debian's headless Chromium): the page is not blank and the chart is decoded and drawn."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from datetime import date, timedelta

import pytest
from PIL import Image

from policies import spend, spend_chart
from policies.spend import DailyCost, SpendReport
from tests.policies.test_spend import TODAY, _seed, infra

BAR_BLUE = (0x1F, 0x77, 0xB4)  # the chart's spend colour; nothing else on the page uses it


def _report(mtd: float = 760.0, days: int = 14) -> SpendReport:
    series = [DailyCost(TODAY - timedelta(days=days - i), {"EC2": 20.0 + i, "RDS": 10.0}) for i in range(days)]
    return SpendReport("staging", TODAY, 900.0, mtd, series)


def test_the_cumulative_line_ends_at_the_month_to_date():
    points = spend_chart.cumulative(_report(mtd=760.0, days=14))
    shown = sum(30.0 + i for i in range(14))  # Nov 9..22
    assert points[0] == (date(2026, 11, 9), round(760.0 - shown, 2))  # what was spent before the window
    assert points[-1] == (TODAY, 760.0)
    assert [b - a for (_, a), (_, b) in zip(points, points[1:], strict=False)] == pytest.approx(
        [30.0 + i for i in range(14)])
    # a window from the 1st starts at zero; last month's days are not this month's spend
    whole = SpendReport("staging", date(2026, 11, 4), 900.0, 90.0,
                        [DailyCost(date(2026, 10, 31), {"EC2": 500.0})] +
                        [DailyCost(date(2026, 11, d), {"EC2": 30.0}) for d in (1, 2, 3)])
    assert spend_chart.cumulative(whole) == [(date(2026, 11, 1), 0.0), (date(2026, 11, 2), 30.0),
                                             (date(2026, 11, 3), 60.0), (date(2026, 11, 4), 90.0)]


def _chart_of(html: str) -> Image.Image:
    match = re.search(r'<img id="spend-chart" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert match, "the report carries no inline chart"
    return Image.open(io.BytesIO(base64.b64decode(match[1]))).convert("RGB")


def _blue_pixels(image: Image.Image) -> int:
    return sum(1 for p in image.getdata() if all(abs(a - b) <= 8 for a, b in zip(p, BAR_BLUE, strict=True)))


def test_the_html_report_carries_the_chart_inline(aws, tmp_path, monkeypatch):
    _seed(aws, daily_usd=40.0, mtd=820.0, days=5)
    monkeypatch.setattr(spend, "date", type("D", (date,), {"today": classmethod(lambda cls: TODAY)}))
    out = tmp_path / "report.html"
    result = infra("cost", "report", "staging", "--days", "5", "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "<h1>Daily cost report: staging, 2026-11-23</h1>" in html and ">WARN</span>" in html
    assert "<td>Amazon Relational Database Service</td><td class=\"usd\">80.00</td>" in html
    chart = _chart_of(html)
    assert chart.size == (800, 640)
    assert len(chart.getcolors(maxcolors=1 << 16) or []) > 50 and _blue_pixels(chart) > 2000  # bars and the line


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        message = "Debian's chromium is not installed (scripts/test installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _browser(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"  # a throwaway profile: nothing shared with other runs
    return subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--hide-scrollbars", *args], capture_output=True, text=True, timeout=120, check=False)


def test_a_browser_renders_the_report_with_its_chart(tmp_path):
    page = tmp_path / "report.html"
    html = spend.render_html(_report())
    page.write_text(html)

    shot = tmp_path / "shot.png"
    done = _browser(tmp_path, "--window-size=900,1000", f"--screenshot={shot}", page.as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    screen = Image.open(shot).convert("RGB")
    assert screen.size == (900, 1000)
    assert len(screen.getcolors(maxcolors=1 << 16) or []) > 50, "the page rendered blank"
    # the chart is drawn on the page, where the image sits (below the summary), at its own size
    below_summary = screen.crop((0, 200, 900, 1000))
    assert _blue_pixels(below_summary) > 2000
    assert _blue_pixels(screen.crop((0, 0, 900, 200))) == 0  # the summary above has none of the chart's blue

    # and the browser decoded the image itself: its natural size is the PNG's
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", "<script>window.addEventListener('load', () => {"
                                  "document.body.dataset.chart = document.getElementById('spend-chart')"
                                  ".naturalWidth + 'x' + document.getElementById('spend-chart').naturalHeight;"
                                  "});</script></body>"))
    dom = _browser(tmp_path, "--dump-dom", probe.as_uri())
    assert 'data-chart="800x640"' in dom.stdout, dom.stderr[-2000:]


def test_a_blank_page_would_be_caught(tmp_path):
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body></body></html>")
    shot = tmp_path / "blank.png"
    _browser(tmp_path, "--window-size=900,1000", f"--screenshot={shot}", page.as_uri())
    screen = Image.open(shot).convert("RGB")
    assert len(screen.getcolors(maxcolors=1 << 16) or []) <= 2 and _blue_pixels(screen) == 0


@pytest.fixture
def with_sender(write_config, tmp_path, monkeypatch):
    """A project whose prod stack names an SES sender for the HTML report."""
    from tests.conftest import ROOT

    def add(cfg):
        cfg["infra:budget"]["reportSender"] = "finops@generic-corp.com"
        cfg["infra:budget"]["alertEmails"] = ["sre@generic-corp.com", "ceo@generic-corp.com"]

    write_config("prod", add)
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    monkeypatch.setenv("INFRA_PROJECT_DIR", str(tmp_path))
    monkeypatch.setattr(spend, "date", type("D", (date,), {"today": classmethod(lambda cls: TODAY)}))


def test_notify_mails_the_chart_inline_through_ses(aws, with_sender):
    """Through moto's SES: one MIME mail, the markdown as text, the HTML pointing at a cid: PNG part."""
    from email import message_from_bytes, policy

    import boto3
    from moto.ses.models import ses_backends

    from tests.policies.test_spend import _subscribed_queue

    _subscribed_queue("infra-prod-alerts")
    boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress="finops@generic-corp.com")
    _seed(aws, daily_usd=60.0, mtd=1520.0)

    result = infra("cost", "report", "prod", "--days", "3", "--format", "json", "--notify")

    assert result.exit_code == 0, result.output
    assert "mailed the report with its chart to sre@generic-corp.com, ceo@generic-corp.com" in result.stderr
    [sent] = ses_backends["123456789012"]["us-east-1"].sent_messages
    mail = message_from_bytes(sent.raw_data.encode() if isinstance(sent.raw_data, str) else sent.raw_data,
                              policy=policy.default)
    assert mail["Subject"] == "[infra] prod cost report 2026-11-23: WARN (95% of budget)"
    assert mail["To"] == "sre@generic-corp.com, ceo@generic-corp.com"
    assert mail.get_body(("plain",)).get_content().startswith("# Daily cost report: prod, 2026-11-23")
    html = mail.get_body(("html",)).get_content()
    assert '<img id="spend-chart" src="cid:spend-chart"' in html and "data:image" not in html
    [image] = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<spend-chart>"
    chart = Image.open(io.BytesIO(image.get_content())).convert("RGB")
    assert chart.size == (800, 640) and _blue_pixels(chart) > 2000


def test_an_unverified_sender_is_one_line_and_the_report_still_went_out(aws, with_sender):
    from tests.policies.test_spend import _subscribed_queue

    _subscribed_queue("infra-prod-alerts")
    _seed(aws, daily_usd=10.0, mtd=100.0)

    result = infra("cost", "report", "prod", "--days", "3", "--format", "json", "--notify")

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("sent the report (circuit breaker: ok) to arn:aws:sns:")  # the plain one went
    assert lines[1].startswith("error: mail the HTML cost report (SES): AWS error MessageRejected")

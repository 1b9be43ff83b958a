from __future__ import annotations

import pytest

from stacks.redact import redact, redact_data


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("DB_PASSWORD=hunter2 next", "DB_PASSWORD=*** next"),
        ("postgres://temporal:hunter2@db:5432/temporal", "postgres://temporal:***@db:5432/temporal"),
        ('{"token": "abc123"}', '{"token": "***"}'),
        ("TEMPORAL_AUTH=abc", "TEMPORAL_AUTH=***"),
        ("api-key: xyz", "api-key: ***"),
        ("accessToken=abc", "accessToken=***"),
        ("key=value", "key=***"),
        ("curl -H 'X: Bearer abcdefghijkl'", "curl -H 'X: Bearer ***'"),
        # not secrets: must stay readable
        ("dial tcp 127.0.0.1:7233: connect: connection refused",
         "dial tcp 127.0.0.1:7233: connect: connection refused"),
        ("tokens_used=1200 monkey=banana", "tokens_used=1200 monkey=banana"),
        ("kubectl.kubernetes.io/restartedAt: 2026-01-01T00:00:00Z",
         "kubectl.kubernetes.io/restartedAt: 2026-01-01T00:00:00Z"),
        # names of secrets (ARNs, targets) are not secrets: records must say which one was rotated
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1a2b",
         "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1a2b"),
        ("target secretsmanager://infra-prod/app/database", "target secretsmanager://infra-prod/app/database"),
        ("target secret://infra-prod/app/redis", "target secret://infra-prod/app/redis"),
        ("secret: hunter2 and SECRET=abc", "secret: *** and SECRET=***"),
    ],
)
def test_redact(text, shown):
    assert redact(text) == shown


def test_redact_data_masks_secret_keys_and_scans_strings():
    data = {"password": "x", "apiKey": "y", "tokens_used": 5,
            "nested": [{"url": "https://u:p@h/x", "AUTH_TOKEN": "z"}]}
    assert redact_data(data) == {"password": "***", "apiKey": "***", "tokens_used": 5,
                                 "nested": [{"url": "https://u:***@h/x", "AUTH_TOKEN": "***"}]}

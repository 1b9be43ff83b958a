"""Secrets are masked wherever they sit, by their shape or by the name they are given; the text around a
secret, and ordinary prose, come out unchanged."""

from __future__ import annotations

import json

import pytest

from stacks.redact import redact, redact_data

GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GHO = "gho_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
GITHUB_PAT = "github_pat_11ABCDEFG0123456789_" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVW"
AKIA = "AKIAIOSFODNN7EXAMPLE"
ASIA = "ASIAY34FZKBOKMUTVV7A"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PEM_BODY = "MIIEowIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi\nZ1+m3kR0wHD8Y5Qv0aWq9E3xT==\n"
OPENAI = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"

# (text, what is written): one table per class
NAMED = [
    ("PGPASSWORD=hunter2 psql -h db app", "PGPASSWORD=*** psql -h db app"),
    ("export DB_PASS=s3cr3t; ./migrate", "export DB_PASS=***; ./migrate"),
    ("dbPass: s3cr3t", "dbPass: ***"),
    ("passphrase=Tr0ub4dor&3 next", "passphrase=***&3 next"),
    ("PULUMI_CONFIG_PASSPHRASE='correct horse battery' pulumi up", "PULUMI_CONFIG_PASSPHRASE='***' pulumi up"),
    ("MYSQL_PWD=x1 mysql", "MYSQL_PWD=*** mysql"),
    ("DBPASS=x1 REDIS_PW=x2 pass=x3", "DBPASS=*** REDIS_PW=*** pass=***"),
    ('{"pass": "x1", "user": "app"}', '{"pass": "***", "user": "app"}'),
    ('{"client_secret": "abc \\" def", "id": "app"}', '{"client_secret": "***", "id": "app"}'),
    ("credentials=Zx9kQ2", "credentials=***"),
    ("credentials=abc", "credentials=***"),
    ("'password' => 'hunter2', 'user' => 'app'", "'password' => '***', 'user' => 'app'"),
    ("aws_secret_access_key = " + AWS_SECRET, "aws_secret_access_key = ***"),
]
URLS = [
    ("redis://:pw1@cache:6379/0 refused", "redis://:***@cache:6379/0 refused"),
    ("postgres://u:p@h/db", "postgres://u:***@h/db"),
    ("postgres://app:p@ss@db:5432/app ok", "postgres://app:***@db:5432/app ok"),
    ('dsn "amqp://guest:guest@mq:5672/" set', 'dsn "amqp://guest:***@mq:5672/" set'),
]
HEADERS = [
    ("Authorization: Bearer abcdefghijkl.mnop", "Authorization: ***"),
    ("curl -H 'Authorization: token " + GHP + "' https://api", "curl -H 'Authorization: ***' https://api"),
    ("Authorization: AWS4-HMAC-SHA256 Credential=" + AKIA + "/20260101/us-east-1/s3/aws4_request, "
     "SignedHeaders=host, Signature=fe5f80f77d5fa3beca038a248ff027\nnext line",
     "Authorization: ***\nnext line"),
    ('{"Authorization": "Basic dXNlcjpwYXNzd29yZA==", "Accept": "json"}',
     '{"Authorization": "***", "Accept": "json"}'),
    ("Proxy-Authorization: Basic dXNlcjpw", "Proxy-Authorization: ***"),
    ("Cookie: session=abc123; theme=dark\nHost: api", "Cookie: ***\nHost: api"),
    ("< Set-Cookie: sid=xyz789; Path=/; HttpOnly", "< Set-Cookie: ***"),
    ("curl -H \"X-Api-Key: k-123\" url", "curl -H \"X-Api-Key: ***\" url"),
    ("session_cookie=abc123 next", "session_cookie=*** next"),
]
FLAGS = [
    ("mysql --password hunter2 -u root", "mysql --password *** -u root"),
    ("app --password=hunter2 --verbose", "app --password=*** --verbose"),
    ("pg_dump --db-password 'a b' db", "pg_dump --db-password '***' db"),
    ("gh auth login --token " + GHP, "gh auth login --token ***"),
    ("mysql -uroot -phunter2 app", "mysql -uroot -p*** app"),
    ('mysqldump -p"a b" app', 'mysqldump -p"***" app'),
    ("redis-cli -h cache -a s3cr3t ping", "redis-cli -h cache -a *** ping"),
    ("sshpass -p s3cr3t ssh host", "sshpass -p *** ssh host"),
    ("aws configure --secret-key abc123 --region us-east-1", "aws configure --secret-key *** --region us-east-1"),
    ("requirepass s3cr3t\nport 6379", "requirepass ***\nport 6379"),
    ("mysql -u app -phunter app", "mysql -u app -p*** app"),
    ("run it with -pS3cret!", "run it with -p***"),
    ("--pass=x1 --api-key k2", "--pass=*** --api-key ***"),
]
SHAPES = [  # masked by shape, under no secret-sounding name
    ("pushed with " + GHP + " ok", "pushed with *** ok"),
    ("oauth " + GHO, "oauth ***"),
    ("pat=" + GITHUB_PAT, "pat=***"),
    ("using " + GITHUB_PAT + ".", "using ***."),
    ("AccessKeyId " + AKIA + " of role", "AccessKeyId *** of role"),
    ("longer " + GHP + "XYZ9 token", "longer *** token"),
    ("secret key " + AWS_SECRET + " set", "secret key *** set"),
    ("id=" + ASIA + ",", "id=***,"),
    ('AWS signing key "' + AWS_SECRET + '" rotated', 'AWS signing key "***" rotated'),
    ("session " + JWT + " expired", "session *** expired"),
    ("LLM key " + OPENAI + " over quota", "LLM key *** over quota"),
    ("maps AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q done", "maps *** done"),
    ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack ***"),
]
PEM = [
    ("key:\n-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY + "-----END RSA PRIVATE KEY-----\nnext line",
     "key:\n-----BEGIN RSA PRIVATE KEY-----\n***\n-----END RSA PRIVATE KEY-----\nnext line"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAAQAAADMAAAAL==",
     "-----BEGIN OPENSSH PRIVATE KEY-----\n***"),
    ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,AB12\n\nMIIE\n"
     "-----END ENCRYPTED PRIVATE KEY-----",
     "-----BEGIN ENCRYPTED PRIVATE KEY-----\n***\n-----END ENCRYPTED PRIVATE KEY-----"),
    ('{"pem": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\nkqhkiG9w0==\\n-----END PRIVATE KEY-----\\n"}',
     '{"pem": "-----BEGIN PRIVATE KEY-----\\n***\\n-----END PRIVATE KEY-----\\n"}'),
    ('{"key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg==\\n-----END PRIVATE KEY-----"}', '{"key": "***"}'),
    ("-----BEGIN EC PRIVATE KEY-----\r\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49\r\n"
     "2026-01-01T00:00:00Z app started",
     "-----BEGIN EC PRIVATE KEY-----\r\n***\r\n2026-01-01T00:00:00Z app started"),
    ("env TLS_PEM=-----BEGIN RSA PRIVATE KEY----- MIIEow AKCAQEA3Tz2 -----END RSA PRIVATE KEY----- done",
     "env TLS_PEM=-----BEGIN RSA PRIVATE KEY----- *** -----END RSA PRIVATE KEY----- done"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQdGBF\n-----END PGP PRIVATE KEY BLOCK-----",
     "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n***\n-----END PGP PRIVATE KEY BLOCK-----"),
]
SIGNED_URLS = [
    ("GET https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + AKIA
     + "%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600"
     "&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE%2F&X-Amz-SignedHeaders=host"
     "&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024 200",
     "GET https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***"
     "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-Security-Token=***&X-Amz-SignedHeaders=host"
     "&X-Amz-Signature=*** 200"),
    ("https://acct.blob.core.windows.net/c/b?sv=2021-08-06&se=2026-01-01&sig=abc%2Bdef%3D&sp=r",
     "https://acct.blob.core.windows.net/c/b?sv=2021-08-06&se=2026-01-01&sig=***&sp=r"),
    ("https://cdn/x?signature=abc123&token=xyz&expires=1", "https://cdn/x?signature=***&token=***&expires=1"),
    ("?x-amz-signature=abc&x-amz-credential=def&x-amz-date=1",
     "?x-amz-signature=***&x-amz-credential=***&x-amz-date=1"),
]
MARKDOWN = [
    ("set `PASSWORD=x` first", "set `PASSWORD=***` first"),
    ("run `export DB_PASS=hunter2` then", "run `export DB_PASS=***` then"),
    ("(password=hunter2)", "(password=***)"),
    ("<DbPassword>hunter2</DbPassword> <user>app</user>", "<DbPassword>***</DbPassword> <user>app</user>"),
]
PROSE = [  # written exactly as given
    "credentials: missing",
    "credentials: use the role",
    "no credentials: run aws sso login first",
    "AWS credentials: none found in the environment",
    "credentials: ~/.aws/credentials (profile sre)",
    "Credentials: Missing",
    "find / -name x -print; gcc -pedantic",
    "received SIGTERM: shutting down",
    "all tests pass: 12 of 12",
    "bypass=true compass: north",
    "monkey=banana tokens_used=1200 keys: 3",
    "passwordless=enabled",
    "git commit 3f786850e387550fdab836ed7e6dc881de23001b deployed",
    "container 4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b restarted",
    "ssh -p 22 host; docker run -p8080:80/tcp nginx; psql -h db -p5432",
    "ls -la; mkdir -p /tmp/x",
    "pass --password-file /run/secrets/db to the job",
    "Authentication failed for user app",
    "the API uses basic authentication; a Bearer token is required",
    "tests pass: 12, PASS: test_config",
    "Connection to redis://cache:6379/0 refused; https://example.com:8443/path?page=2&sort=asc",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1a2b",
    "cache hit ratio: 0.93, config: Pulumi.staging.yaml",
    "set `DB_HOST=db` first",
    "ask-the-team about sk-learn",
]


@pytest.mark.parametrize(("text", "shown"), NAMED + URLS + HEADERS + FLAGS + SHAPES + PEM + SIGNED_URLS + MARKDOWN)
def test_secret_masked_and_surroundings_kept(text, shown):
    assert redact(text) == shown


@pytest.mark.parametrize("text", PROSE)
def test_ordinary_text_untouched(text):
    assert redact(text) == text


@pytest.mark.parametrize(("text", "shown"), NAMED + HEADERS + SHAPES + PEM + SIGNED_URLS)
def test_masking_is_stable(text, shown):
    """Redacting twice (a record re-rendered from a masked one) changes nothing more."""
    assert redact(redact(text)) == shown


def test_redact_data_masks_nested_json_by_name_and_by_shape():
    data = {
        "env": {"PGPASSWORD": "x", "PGHOST": "db", "DB_PASS": 7},
        "headers": [{"Authorization": "Bearer abcdefghij"}, {"Accept": "application/json"}],
        "log": "pushed with " + GHP + " then",
        "note": {"credentials": "missing", "tokens_used": 1200, "pass": "x", "bypass": "on"},
        "urls": ["redis://:pw@h:6379", "https://example.com/?page=2"],
        "aws": {"id": AKIA, "region": "us-east-1"},
        "blob": "-----BEGIN PRIVATE KEY-----\nMIIEvQ==\n-----END PRIVATE KEY-----",
        "jwt": [[JWT]],
        "count": 3,
        "empty_token": "",
    }
    assert redact_data(data) == {
        "env": {"PGPASSWORD": "***", "PGHOST": "db", "DB_PASS": "***"},
        "headers": [{"Authorization": "***"}, {"Accept": "application/json"}],
        "log": "pushed with *** then",
        "note": {"credentials": "missing", "tokens_used": 1200, "pass": "***", "bypass": "on"},
        "urls": ["redis://:***@h:6379", "https://example.com/?page=2"],
        "aws": {"id": "***", "region": "us-east-1"},
        "blob": "-----BEGIN PRIVATE KEY-----\n***\n-----END PRIVATE KEY-----",
        "jwt": [["***"]],
        "count": 3,
        "empty_token": "",
    }


def test_audit_log_on_disk_holds_no_secret(tmp_path):
    """What reaches the audit file: every secret of the tables above, nested, none readable."""
    from stacks import audit

    path = tmp_path / "audit.jsonl"
    secrets = {"cases": [text for text, _ in NAMED + URLS + SHAPES + PEM + SIGNED_URLS]}
    audit.append("test", path=path, **secrets)
    written = path.read_text()
    for value in ("hunter2", "s3cr3t", GHP, GITHUB_PAT, AKIA, ASIA, AWS_SECRET, JWT, "MIIEowIBAAKCAQEA",
                  "fe5f80f77d5fa3beca038", "pw1@", OPENAI, "Tr0ub4dor"):
        assert value not in written
    assert json.loads(written)["cases"][0] == "PGPASSWORD=*** psql -h db app"


def test_error_lines_on_the_console_are_masked(write_config):
    """A config value quoted back in an error (here a token pasted where the EKS version goes) is masked on
    the console, for every command: the error line is printed in one place."""
    from typer.testing import CliRunner

    from cli.main import app
    from tests.stacks.test_config import _set

    path = write_config("staging", _set("eks.version", GHP))
    result = CliRunner().invoke(app, ["plan", "staging", "--config", str(path)])
    assert result.exit_code == 2
    assert "infra:eks.version" in result.stderr and "(got '***')" in result.stderr
    assert GHP not in result.stderr + result.stdout


def test_unexpected_failures_shown_by_doctor_and_status_are_masked():
    from cli.output import unexpected

    shown = unexpected(RuntimeError("connect redis://:hunter2@cache:6379 failed\ntraceback..."))
    assert shown == "RuntimeError: connect redis://:***@cache:6379 failed"

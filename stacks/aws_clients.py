"""boto3 clients configured once: bounded adaptive retries, explicit timeouts, region and profile.

Region: ``AWS_REGION``/``AWS_DEFAULT_REGION``, else the environment's ``aws:region``. Profile:
``AWS_PROFILE``, else the environment's ``aws:profile``, else boto3's default chain. Endpoints: boto3
honours ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``, which is how the tests point every
client at a local moto server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from stacks.errors import InvalidInput, MissingPrerequisite, OperationFailed

MAX_ATTEMPTS = 5
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 30
T = TypeVar("T")


def client(service: str, region: str | None = None, profile: str | None = None) -> Any:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.session.Session(profile_name=None if os.environ.get("AWS_PROFILE") else profile)
    except ProfileNotFound:
        raise MissingPrerequisite(f"AWS profile {profile!r} (aws:profile) is not configured",
                                  hint=f"run `aws configure sso --profile {profile}` or set AWS_PROFILE") from None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or region
    config = Config(
        region_name=region,
        retries={"mode": "adaptive", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )
    return session.client(service, config=config)


# Error codes that mean "you asked for something that is not there" rather than "AWS failed".
NOT_FOUND_CODES = {
    "DBInstanceNotFound", "DBInstanceNotFoundFault", "ReplicationGroupNotFoundFault", "ResourceNotFoundException",
    "NotFoundException", "NoSuchEntity",
}


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn botocore failures into the toolkit's one-line errors and exit codes."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise MissingPrerequisite(
            f"{action}: no AWS credentials found",
            hint="set AWS_PROFILE or run `aws sso login`; `infra plan ENV` works offline",
        ) from None
    except NoRegionError:
        raise MissingPrerequisite(f"{action}: no AWS region", hint="set AWS_REGION") from None
    except EndpointConnectionError as exc:
        raise MissingPrerequisite(f"{action}: cannot reach AWS ({exc.kwargs.get('endpoint_url')})",
                                  hint="check the network or AWS_ENDPOINT_URL") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Unknown"), error.get("Message", "")
        if code in NOT_FOUND_CODES or code.endswith("NotFound") or code.endswith("NotFoundFault"):
            raise InvalidInput(f"{action}: {message or code}") from None
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "ExpiredToken",
                    "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"):
            raise MissingPrerequisite(f"{action}: AWS refused the credentials ({code})",
                                      hint="check the role's permissions or refresh the session") from None
        raise OperationFailed(f"{action}: AWS error {code}: {message}") from None
    except BotoCoreError as exc:
        raise OperationFailed(f"{action}: {exc}") from None


def call(action: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
    with aws_errors(action):
        return fn(**kwargs)

"""Typed domain errors of the service; `problems.py` maps each class to an HTTP problem."""

from __future__ import annotations

# The bundle reader's error (bundle/ cannot import the service), mapped like the classes below.
from bundle.format import BundleError as BundleError


class ServiceError(Exception):
    """Base class: every error the service raises on purpose. The message is the client's detail."""

    headers: dict[str, str] = {}  # extra response headers of this problem


class InvalidFeatures(ServiceError):
    """Item features with a wrong modality, a wrong dimension or non-finite values."""


class InvalidRequest(ServiceError):
    """A request that is well-formed JSON but asks for something the service cannot do."""


class UnknownItem(ServiceError):
    """An item id that is neither in the bundle nor registered (or that was retired)."""


class ModelNotReady(ServiceError):
    """The service has not finished loading, or the part of the model a request needs is absent."""


class StoreUnavailable(ServiceError):
    """Redis did not answer, so nothing was written."""


class Unauthorized(ServiceError):
    """No API key was given where one is required."""

    headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}


class Forbidden(ServiceError):
    """The API key given is not one of the configured keys."""


class RateLimited(ServiceError):
    """Too many requests from one key (or client) in the current second."""

    headers = {"Retry-After": "1"}


class PayloadTooLarge(ServiceError):
    """The request body is over the configured limit."""


class IndexUnavailable(ServiceError):
    """The requested index device or type cannot be built (e.g. `gpu` without a GPU)."""


class BundleRefused(ServiceError):
    """A bundle named for a rollout cannot be loaded or cannot serve this live state."""


class RolloutConflict(ServiceError):
    """A rollout asked for something the current one does not allow (one already loading, no
    candidate to promote)."""

"""Errors raised while loading, validating or converting SOP models."""

from __future__ import annotations


class ProcessModelError(Exception):
    """Base class for SOP model errors."""


class ModelNotFoundError(ProcessModelError):
    """No shipped SOP or file by that name."""


class ModelFormatError(ProcessModelError):
    """An SOP file cannot be read (syntax or schema)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class UnsupportedConstructError(ModelFormatError):
    """A BPMN element that csmine cannot turn into an SOP flow."""

    def __init__(
        self, message: str, *, element_id: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(message, line=line)
        self.element_id = element_id


class UnknownStepError(ProcessModelError):
    """An SOP has no step by that name."""

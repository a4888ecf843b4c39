"""Errors raised by the converters."""


class ConvertError(ValueError):
    """A conversion that cannot go on; the message names the file (and line or field) at fault."""


class BadRecord(Exception):
    """One malformed input record.

    Raised by the format parsers without a location; :class:`~.streams.LineReader` adds the file and
    line number and either turns it into a :class:`ConvertError` or, with ``skip_bad``, counts it.
    """

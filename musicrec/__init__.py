"""musicrec: blended offline + online music recommendations on the Yandex Music course format."""

__version__ = "0.1.0"

"""The ``floe`` command line: a thin click layer over pure command functions."""

"""The stages put together: fit, compress, the run directory, report.html, and the commands' Python API."""

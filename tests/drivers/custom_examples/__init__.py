"""Custom drivers used by the driver tests; ``support_bot`` is the worked example of docs/custom-drivers.md."""

"""Root conftest: the pytester fixture for the plugin's end-to-end tests."""

pytest_plugins = ["pytester"]

"""Shared pytest configuration: custom markers."""


def pytest_configure(config):
    config.addinivalue_line("markers", "notebook: executes a tutorial notebook (deselect with -m 'not notebook')")

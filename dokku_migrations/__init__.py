"""dokku-migrations: run an app's database migrations from the incoming image before Dokku deploys it.

Importing the package must stay free of third-party imports: `install` runs it with the system
Python before the plugin's own environment (with `jsonpath-ng`) exists. Its version is plugin.toml's
(`[plugin] version`, which Dokku reads; pyproject.toml takes it from there when a wheel is built).
"""

"""Install, update and uninstall: the plugin's own Python environment and state directories."""

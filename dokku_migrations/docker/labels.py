"""Container and image labels: Dokku's own, and the plugin's beside them (one name, one place)."""

APP = "com.dokku.app-name"
CONTAINER_TYPE = "com.dokku.container-type"
RUN = "com.dokku.migrations.run"
PROBE = "com.dokku.migrations.probe"
PROBE_PID = "com.dokku.migrations.probe-pid"  # the process that reads through it: gone, the probe is orphaned
DATABASE = "com.dokku.migrations.database"  # a database client container; its value is the app
PREFLIGHT = "com.dokku.migrations.preflight"  # everything a pre-flight starts; its value is the app
PREFLIGHT_SESSION = "com.dokku.migrations.preflight-session"  # one pre-flight's, its value a random id

"""The database side: what the plugin can see of the database it migrates, through a client
container of the database's own image on the migration's network (never from the host)."""

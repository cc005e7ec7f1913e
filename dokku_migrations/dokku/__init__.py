"""The Dokku side: plugn triggers, paths, the deploy lock, and what differs between Dokku versions."""

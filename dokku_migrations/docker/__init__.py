"""The Docker side: the Engine API spoken directly (standard library only), images, probes, the client's environment."""

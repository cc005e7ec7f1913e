"""The run path: from an image to a finished migration — detection, plan, settings, the container, the verdict."""

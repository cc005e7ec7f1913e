"""What the plugin knows of an image: a plain value, so the pure modules never import I/O.

A NamedTuple rather than a dataclass: every deploy defines it, and a frozen dataclass costs
~0.5 ms to define. The lists and the dict are read, never changed.
"""

from typing import Dict, List, NamedTuple, Tuple


class ImageInfo(NamedTuple):
    ref: str
    id: str
    entrypoint: List[str]
    labels: Dict[str, str]
    env: List[str]
    repo_tags: List[str]
    workdir: str = ""
    stop_signal: str = ""
    parent: str = ""  # the image it was built on, kept by the classic builder and `docker commit` only
    layers: Tuple[str, ...] = ()  # its filesystem, bottom first (RootFS.Layers)


def image_tag(image: str) -> str:
    """The tag part of `repo:tag` (Dokku's IMAGE_TAG), `latest` when none is given (or for an image id)."""
    if image.startswith("sha256:"):
        return "latest"
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def belongs_to(image: ImageInfo, app: str, repo: str) -> bool:
    """An image of this app: tagged in its Dokku repository, or labelled with it by Dokku's build."""
    return image.labels.get("com.dokku.app-name") == app or any(
        tag.rsplit(":", 1)[0] == repo for tag in image.repo_tags)


def layered_on(image: ImageInfo, base: ImageInfo) -> bool:
    """The image's filesystem is the base's with layers added on top (or none: a LABEL-only build, a
    relabel): true of every image built `FROM` the base, whatever the builder — BuildKit keeps no
    parent. Not proof on its own: two images built apart can share every layer."""
    return bool(base.layers) and image.layers[:len(base.layers)] == base.layers

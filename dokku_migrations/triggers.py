"""Dokku triggers: the deploy hooks, and the app lifecycle (rename, clone, delete)."""

from typing import Mapping, Sequence

from . import gate
from .dokku import check_app_name
from .errors import UserError
from .paths import LEGACY_HOOK
from .migrate import Context, Request, execute

def legacy_hook_enabled() -> bool:
    """`install` links `pre-deploy` only on Dokku older than 0.34.4; then that hook does the work."""
    return LEGACY_HOOK.exists()


def pre_release_builder(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    builder_type, app, image = expect(args, 3, "BUILDER_TYPE APP IMAGE")
    if legacy_hook_enabled():
        return
    execute(ctx, Request(app=check_app_name(app), image=image, trigger="pre-release-builder"))


def pre_deploy(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    app, image_tag = expect(args, 2, "APP IMAGE_TAG")
    app = check_app_name(app)
    execute(ctx, Request(app=app, image=f"{ctx.dokku.image_repo(app)}:{image_tag}", trigger="pre-deploy"))


def post_release_builder(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """The release rebuilt the image with Dokku's labels (a new id): carry its migration status over."""
    builder_type, app, image = expect(args, 3, "BUILDER_TYPE APP IMAGE")
    app = check_app_name(app)
    last = next(iter(ctx.history.runs(app, limit=1)), None)
    if legacy_hook_enabled() or last is None or last.trigger != "pre-release-builder" or last.image != image:
        return
    status = ctx.gate.status(app, last.image_id)
    released = ctx.docker.inspect_image(image)
    if status and released is not None and released.id != last.image_id:
        ctx.gate.mark(app, released.id, status)


def scheduler_deploy(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """`ps:restart`, `ps:scale` and `dokku deploy` start `dokku/<app>:<tag>` here, skipping every
    release trigger: refuse an image whose migrations failed, before the scheduler starts it."""
    scheduler, app, image_tag = expect(args, 3, "SCHEDULER APP IMAGE_TAG")
    app = check_app_name(app)
    image = f"{ctx.dokku.image_repo(app)}:{image_tag}"
    info = ctx.docker.inspect_image(image)
    if info is None or ctx.gate.status(app, info.id) != gate.FAILED:
        return
    raise UserError(f"Refusing to start {image}: its migrations failed and it never went live. "
                    f"Deploy a fixed image, or apply them with 'dokku migrations:run {app}' and retry "
                    f"(see 'dokku migrations:history {app}')")


def post_delete(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    app = check_app_name(expect(args, 1, "APP")[0])
    ctx.settings.delete(app)
    ctx.history.delete(app)


def copy_setup(ctx: Context, args: Sequence[str], env: Mapping[str, str]) -> None:
    """rename: copy now, Dokku's post-delete of the old name removes the old copy; clone: copy."""
    old, new = (check_app_name(name) for name in expect(args, 2, "OLD_APP NEW_APP"))
    ctx.settings.copy(old, new)
    ctx.history.copy(old, new)


def expect(args: Sequence[str], count: int, names: str) -> Sequence[str]:
    if len(args) < count:
        raise UserError(f"Expected trigger arguments {names}, got {len(args)}")
    return args[:count]


TRIGGERS = {
    "pre-release-builder": pre_release_builder,
    "pre-deploy": pre_deploy,
    "post-release-builder": post_release_builder,
    "scheduler-deploy": scheduler_deploy,
    "post-delete": post_delete,
    "post-app-rename-setup": copy_setup,
    "post-app-clone-setup": copy_setup,
}

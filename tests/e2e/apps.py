"""Real application images for the tests: Node apps using node-pg-migrate (from npm), built
locally FROM the dm-node image, content-addressed so a rerun reuses them."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Optional

from .host import docker, image_exists

SERVER_JS = """const http = require('http');
const fs = require('fs');
const version = fs.readFileSync(__dirname + '/version.txt', 'utf8').trim();
http.createServer((req, res) => res.end(version)).listen(5000);
"""

PACKAGE_SCRIPTS = {"start": "node server.js", "migrate": "node-pg-migrate up"}


def create_table(name: str) -> str:
    return f"exports.up = (pgm) => {{ pgm.createTable('{name}', {{ id: 'id', name: {{ type: 'text' }} }}); }};\n"


FAILING_MIGRATION = "exports.up = (pgm) => { pgm.sql('SELECT 1/0'); };\n"


def echo_env(keys) -> str:
    """A migration that stores the hex of each env value, so the test compares exact bytes."""
    return (
        "exports.up = (pgm) => {\n"
        "  pgm.createTable('config_echo', { key: 'text', value_hex: 'text' });\n"
        f"  for (const key of {json.dumps(list(keys))}) {{\n"
        "    const hex = Buffer.from(process.env[key] === undefined ? '' : process.env[key], 'utf8').toString('hex');\n"
        "    pgm.sql(`INSERT INTO config_echo VALUES ('${key}', '${hex}')`);\n"
        "  }\n"
        "};\n"
    )


def node_base_image(name: str, node_modules: Path) -> str:
    """dm-node:20 with a cached npm install at /app/node_modules, built once per content."""
    node_id = docker("image", "inspect", "--format", "{{.Id}}", "dm-node:20")
    digest = hashlib.sha256(f"{node_modules}\n{node_id}".encode()).hexdigest()[:12]
    tag = f"{name}:{digest}"
    if not image_exists(tag):
        with tempfile.TemporaryDirectory() as context:
            shutil.copytree(node_modules, Path(context) / "node_modules", symlinks=True)
            (Path(context) / "Dockerfile").write_text("FROM dm-node:20\nCOPY node_modules /app/node_modules\n")
            build(context, tag)
    return tag


class Images:
    def __init__(self, node_deps: Path) -> None:
        self.base = node_base_image("dm-test-node-base", node_deps)

    def node_app(self, name: str, version: str, migrations: Dict[str, str], scripts: Optional[dict] = None,
                 package_json: Optional[str] = None, extra: Optional[Dict[str, str]] = None,
                 dockerfile_extra: str = "") -> str:
        """An app image: server.js answering `version`, package.json, and migrations/*.js."""
        files = {"server.js": SERVER_JS, "version.txt": version}
        if package_json is None:
            package_json = json.dumps({"name": name, "version": "1.0.0",
                                       "scripts": PACKAGE_SCRIPTS if scripts is None else scripts})
        if package_json is not False:
            files["package.json"] = package_json
        for filename, body in migrations.items():
            files[f"migrations/{filename}"] = body
        files.update(extra or {})
        dockerfile = (f"FROM {self.base}\nWORKDIR /app\nCOPY . /app/\n{dockerfile_extra}"
                      'CMD ["node", "server.js"]\n')
        return self.build_files(name, files, dockerfile)

    def plain(self, name: str, dockerfile: str, files: Optional[Dict[str, str]] = None) -> str:
        return self.build_files(name, files or {}, dockerfile)

    def build_files(self, name: str, files: Dict[str, str], dockerfile: str) -> str:
        digest = hashlib.sha256(json.dumps([files, dockerfile, self.base], sort_keys=True).encode()).hexdigest()[:12]
        tag = f"dm-test/{name}:{digest}"
        if image_exists(tag):
            return tag
        with tempfile.TemporaryDirectory() as context:
            for filename, body in files.items():
                path = Path(context) / filename
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(body)
            (Path(context) / "Dockerfile").write_text(dockerfile)
            (Path(context) / ".dockerignore").write_text("Dockerfile\n.dockerignore\n")
            build(context, tag)
        return tag


def build(context: str, tag: str) -> None:
    result = subprocess.run(["docker", "build", "--quiet", "--tag", tag, context], capture_output=True, text=True,
                            env={**os.environ, "DOCKER_BUILDKIT": "0"})
    if result.returncode != 0:
        raise AssertionError(f"building {tag} failed: {result.stderr}")

"""`bench/run --profile`: where the plugin's time goes, on the bench's own host and apps.

1. Every docker/plugn call the plugin makes, timed by wrappers put first on PATH (each wrapper
   adds ~2 ms of bash); what is left of the wall time is the plugin's Python (start-up, imports,
   its own code, `sh`'s process handling).
2. Import time (PYTHONPROFILEIMPORTTIME) of one trigger run, and which modules have no byte code.
3. cProfile of one run, started exactly as bin/run starts Python (cwd, PYTHONPATH, venv).
4. A what-if that needs no plugin change: byte code compiled at install (compileall on this
   bench host; a no-op once install compiles it).
5. `sh` against the standard library in the plugin's venv: import cost, per-call cost, and the
   0-100 ms that RunningCommand.wait(timeout=...) adds (it sleeps 100 ms between polls).
"""

import os
import pstats
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Sequence

WRAPPER = """#!/bin/bash
s=$EPOCHREALTIME
"{real}" "$@"
rc=$?
printf '%s %s %s %s {name} %s\\n' "$s" "$EPOCHREALTIME" "$$" "$PPID" "${{*:1:6}}" >>"{log}"
exit $rc
"""


def section(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def as_dokku(argv: Sequence[str]) -> List[str]:
    from shutil import which
    return [which("setpriv") or "/usr/bin/setpriv", "--reuid=dokku", "--regid=dokku", "--init-groups", "--", *argv]


class Tracer:
    def __init__(self, bench) -> None:
        self.bench = bench
        self.dir = bench.host.base / "profile-bin"
        self.dir.mkdir(mode=0o755, exist_ok=True)
        os.chmod(bench.host.base, 0o755)
        self.log = self.dir / "calls.log"
        self.log.touch()
        os.chmod(self.log, 0o666)
        reals = {"docker": subprocess.run(["which", "docker"], capture_output=True, text=True).stdout.strip(),
                 "plugn": str(bench.host.standin / "bin" / "plugn")}
        for name, real in reals.items():
            path = self.dir / name
            path.write_text(WRAPPER.format(real=real, name=name, log=self.log))
            os.chmod(path, 0o755)
        self.env = {**bench.env, "PATH": f"{self.dir}:{bench.env['PATH']}"}

    def run(self, argv: Sequence[str]) -> None:
        self.log.write_text("")
        started = time.time()
        process = subprocess.Popen(as_dokku(argv), env=self.env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, err = process.communicate(timeout=300)
        ended = time.time()
        if process.returncode != 0:
            raise RuntimeError(f"traced run failed: {err.decode()[-1000:]}")
        rows = []
        for line in self.log.read_text().splitlines():
            start, end, pid, ppid, name, args = (line.split(" ", 5) + [""])[:6]
            if int(ppid) == process.pid:  # the plugin's python called it (the shims exec into python)
                rows.append((float(start), float(end), name, args))
        rows.sort()
        total = (ended - started) * 1000
        calls = 0.0
        previous, after_attach = started, False
        print(f"  {'at':>6} {'gap':>5} {'call':>6}  (ms)")
        for start, end, name, args in rows:
            calls += (end - start) * 1000
            note = "  <- gap: the plugin noticing that `start --attach` ended" if after_attach else ""
            print(f"  {(start - started) * 1000:6.0f} {(start - previous) * 1000:5.0f} {(end - start) * 1000:6.0f}  "
                  f"{name} {shorten(args)}{note}")
            previous, after_attach = end, args.startswith("container start")
        print(f"  {total:6.0f} {(ended - previous) * 1000:5.0f}         exit")
        print(f"  total {total:.0f} ms = calls {calls:.0f} ms + plugin Python {total - calls:.0f} ms "
              f"(start-up, imports, own code, sh; 'gap' is the Python time before each call)")


def shorten(args: str) -> str:
    args = re.sub(r"[0-9a-f]{64}", "<id>", args)
    args = re.sub(r"(--env=\S+ ){3,}", "--env=... ", args)
    return args[:90]


def median_ms(bench, argv: Sequence[str], count: int, want: str = "") -> float:
    return statistics.median(bench.timed(argv, want=want) for _ in range(count))


def import_times(bench, argv: Sequence[str]) -> None:
    result = subprocess.run(as_dokku(argv), env={**bench.env, "PYTHONPROFILEIMPORTTIME": "1"},
                            capture_output=True, text=True, timeout=120)
    entries = []
    for line in result.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if found:
            entries.append((int(found.group(2)) / 1000, len(found.group(3)) // 2, found.group(4)))
    total = sum(ms for ms, depth, _ in entries if depth == 0)
    print(f"  all imports: {total:.0f} ms; the largest (cumulative ms, indented by depth):")
    for ms, depth, name in entries:
        if depth <= 3 and ms >= 4:
            print(f"  {ms:7.1f}  {'  ' * depth}{name}")


def missing_bytecode(plugin_dir: Path) -> List[str]:
    package = plugin_dir / "dokku_migrations"
    cached = {p.name.split(".")[0] for p in (package / "__pycache__").glob("*.pyc")}
    return sorted(p.stem for p in package.glob("*.py") if p.stem not in cached)


def cprofile(bench, args: Sequence[str], label: str, lines: int = 14) -> None:
    plugin_dir = bench.host.plugin_dir
    out_dir = bench.host.base / "profile-out"  # written by the dokku user
    out_dir.mkdir(exist_ok=True)
    shutil.chown(out_dir, "dokku", "dokku")
    out = out_dir / f"{label}.prof"
    script = ('cd "$1" && shift && PYTHONPATH="$PWD" exec .venv/bin/python -m cProfile -o "$1" '
              '-m dokku_migrations "${@:2}"')
    result = subprocess.run(as_dokku(["bash", "-c", script, "_", str(plugin_dir), str(out), *args]),
                            env=bench.env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        print(f"  (cProfile run failed: {result.stderr[-500:]})")
        return
    stats = pstats.Stats(str(out))
    rows = []
    for (file, line, function), (cc, nc, tottime, cumtime, callers) in stats.stats.items():
        rows.append((tottime, cumtime, nc, f"{Path(file).name}:{line}({function})"))
    print(f"  {'self ms':>8} {'cum ms':>8} {'calls':>6}  function (top by self time; total "
          f"{stats.total_tt * 1000:.0f} ms, cProfile inflates pure-Python parts)")
    for tottime, cumtime, calls, name in sorted(rows, reverse=True)[:lines]:
        print(f"  {tottime * 1000:8.1f} {cumtime * 1000:8.1f} {calls:6}  {name}")
    own = sorted(((cumtime, nc, f"{Path(file).name}:{line}({function})")
                  for (file, line, function), (cc, nc, tottime, cumtime, callers) in stats.stats.items()
                  if "/dokku_migrations/" in file and cumtime >= 0.003 and function not in ("<module>",)),
                 reverse=True)
    print("  the plugin's own functions, cumulative ms (calls): " + "; ".join(
        f"{name.split(':')[0][:-3]}.{name.split('(')[1][:-1]} {cum * 1000:.0f} ({nc})" for cum, nc, name in own[:22]))
    for needle in ("parse", "sleep", "inspect_image", "_start_daemon_thread"):
        for (file, line, function), (cc, nc, tottime, cumtime, callers) in stats.stats.items():
            if function == needle and (needle != "parse" or "jsonpath_ng" in file and file.endswith("parser.py")
                                       or "jsonpath_ng/__init__" in file):
                print(f"  -> {function} ({Path(file).parent.name}/{Path(file).name}): {nc} calls, "
                      f"{cumtime * 1000:.0f} ms cumulative")


def profile(bench) -> None:
    apps: Dict[str, str] = bench.profile_apps
    tracer = Tracer(bench)
    skip = bench.trigger("pre-release-builder", "dockerfile", apps["skip"], f"dokku/{apps['skip']}:latest")
    plain = bench.migrations_run(apps["plain"])
    keyed = bench.migrations_run(apps["keyed"])

    section("1. calls the plugin makes, and the Python time around them (one traced run each)")
    for title, argv in (("pre-release-builder, no migrate script", skip),
                        ("migrations:run, command true, 0 config keys", plain),
                        ("migrations:run, command true, 1000 config keys", keyed)):
        print(f" {title}:")
        tracer.run(argv)

    section("2. imports of one pre-release-builder run (PYTHONPROFILEIMPORTTIME)")
    import_times(bench, skip)
    missing = missing_bytecode(bench.host.plugin_dir)
    print(f"  modules with no byte code in the installed plugin (compiled again on every run, since the "
          f"dokku user cannot write the root-owned __pycache__): {', '.join(missing) or 'none'}")

    section("3. cProfile")
    print(" pre-release-builder, no migrate script:")
    cprofile(bench, ["trigger", "pre-release-builder", "dockerfile", apps["skip"], f"dokku/{apps['skip']}:latest"],
             "skip")
    print(" migrations:run, command true, 1000 config keys:")
    cprofile(bench, ["command", "migrations:run", apps["keyed"]], "keyed")

    section("4. what-if (no plugin change; this bench host only)")
    count = 9
    bytecode_what_if(bench, skip, count)

    section("5. the `sh` library against the standard library, in the plugin's own venv (as dokku)")
    snippet = r'''
import statistics, subprocess, sys, time
t = time.perf_counter(); import sh; import_sh = (time.perf_counter() - t) * 1000
def median(f, n):
    xs = []
    for _ in range(n):
        t = time.perf_counter(); f(); xs.append((time.perf_counter() - t) * 1000)
    return statistics.median(xs)
docker = sh.Command("docker").bake(_tty_out=False, _in="")
args = ["version", "--format", "{{.Client.Version}}"]
via_sh = median(lambda: docker(*args), 10)
via_subprocess = median(lambda: subprocess.run(["docker", *args], stdin=subprocess.DEVNULL, capture_output=True), 10)
sleep = sh.Command("sleep")
polled = median(lambda: sleep("0.23", _bg=True, _bg_exc=False).wait(timeout=1800), 5)
blocking = median(lambda: sleep("0.23", _bg=True, _bg_exc=False).wait(), 5)
print(f"  import sh: {import_sh:.0f} ms (pulls in asyncio and importlib.metadata)")
print(f"  `docker version` through sh: {via_sh:.1f} ms; through subprocess.run: {via_subprocess:.1f} ms "
      f"-> sh adds {via_sh - via_subprocess:.1f} ms a call")
print(f"  a 230 ms process, RunningCommand.wait(timeout=1800): {polled:.0f} ms; wait(): {blocking:.0f} ms "
      f"-> the timeout poll adds {polled - blocking:.0f} ms (0-100 ms, by where the exit falls in sh's 100 ms sleep)")
'''
    python = bench.host.plugin_dir / ".venv" / "bin" / "python"
    result = subprocess.run(as_dokku([str(python), "-c", snippet]), env=bench.env, capture_output=True, text=True,
                            timeout=120)
    print(result.stdout.rstrip() or f"  (failed: {result.stderr[-500:]})")


def bytecode_what_if(bench, skip: Sequence[str], count: int) -> None:
    """Byte code as installed, against every module compiled (moved in and out of __pycache__ between runs)."""
    package = bench.host.plugin_dir / "dokku_migrations"
    cache, aside = package / "__pycache__", package / "__pycache__.bench-aside"
    before = {p.name for p in cache.glob("*.pyc")}
    python = bench.host.plugin_dir / ".venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "compileall", "-q", str(package)], check=True)
    added = [p.name for p in cache.glob("*.pyc") if p.name not in before]
    if not added:
        print("  byte code: install already compiles every module; nothing to compare")
        return
    aside.mkdir()
    times = {True: [], False: []}
    for i in range(count):
        for compiled in ((True, False) if i % 2 == 0 else (False, True)):
            for name in added:  # move the byte code compiled here in or out of __pycache__
                source, target = (aside / name, cache / name) if compiled else (cache / name, aside / name)
                if source.exists():
                    source.rename(target)
            times[compiled].append(bench.timed(skip, want="No migrations"))
    without, with_ = statistics.median(times[False]), statistics.median(times[True])
    print(f"  pre-release-builder, byte code as installed: {without:.0f} ms; with all modules compiled at install "
          f"(compileall): {with_:.0f} ms -> {with_ - without:+.0f} ms")

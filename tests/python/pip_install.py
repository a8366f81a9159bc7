"""ctest python.pip: pip installs the package into a fresh venv and uses it from there.

    pip_install.py SOURCE_DIR BUILD_DIR

In a temporary folder (removed afterwards): a venv with --system-site-packages (numpy is
Debian's), `pip install --no-build-isolation --no-index SOURCE_DIR` with GIFT_CMAKE_BUILD_DIR=
BUILD_DIR (setup.py takes the extension and the CLI from that build: nothing is compiled) and
its setuptools files under the temporary folder. Then, from outside the source tree: `import gift`
finds the venv's copy at the version of CMakeLists.txt; the venv's `gift --version` prints it, and
a bad flag gives the CLI's one error line and exit status; the installed binaries resolve every
library and carry no RPATH into the build or source tree. `pip install -e` is refused. The same
checks again from a wheel (`pip wheel`). Finally, nothing in the source tree was created or
changed (the build directory and the data symlink aside). Exit 77 (skipped) when this Python
lacks venv, pip, setuptools or wheel.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def fail(what):
    sys.exit(f"python.pip: FAILED: {what}")


def run(args, cwd, env, check=True):
    r = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=540)
    if check and r.returncode != 0:
        fail(f"{' '.join(map(str, args))} exited with {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def snapshot(source, build):
    """Every path of the source tree and its modification time, but for .git, the build
    directory, other CMake build directories at the top (CMakeCache.txt) and symlinks (data)."""
    seen = {}
    for top in source.iterdir():
        if (top.name == ".git" or top.resolve() == build or top.is_symlink()
                or (top / "CMakeCache.txt").exists()):
            continue
        seen[top] = top.lstat().st_mtime_ns
        if top.is_dir():
            for dirpath, dirs, files in os.walk(top):
                for name in dirs + files:
                    p = Path(dirpath) / name
                    seen[p] = p.lstat().st_mtime_ns
    return seen


def check_installed(venv, tmp, env, version, source, build):
    """import gift and the gift command from the venv, run in tmp (outside the source tree)."""
    py, gift_cmd = venv / "bin" / "python", venv / "bin" / "gift"
    r = run([py, "-c", "import gift, sys; print(gift.__file__); print(gift.__version__)"], tmp,
            env)
    where, got = r.stdout.split()
    package = Path(where).parent
    if venv.resolve() not in package.resolve().parents:
        fail(f"import gift found {where}, not the venv's copy under {venv}")
    if got != version:
        fail(f"gift.__version__ is {got}, CMakeLists.txt says {version}")

    r = run([gift_cmd, "--version"], tmp, env)
    if r.stdout.strip() != version:
        fail(f"{gift_cmd} --version printed {r.stdout.strip()!r}, expected {version!r}")
    r = run([gift_cmd, "eval", "--no-such-flag"], tmp, env, check=False)
    lines = r.stderr.strip().splitlines()
    if r.returncode == 0 or len(lines) != 1 or not lines[0].startswith("gift: error: "):
        fail(f"gift eval --no-such-flag: exit {r.returncode}, stderr {r.stderr!r}")

    binaries = [package / "bin" / "gift"] + list(package.glob("_gift*.so"))
    if len(binaries) != 2 or not os.access(binaries[0], os.X_OK):
        fail(f"expected gift/bin/gift (executable) and one gift/_gift*.so, found {binaries}")
    for b in binaries:
        r = run(["ldd", b], tmp, env)
        if "not found" in r.stdout:
            fail(f"ldd {b}:\n{r.stdout}")
        dyn = run(["readelf", "-d", b], tmp, env).stdout
        for line in dyn.splitlines():
            if "RPATH" in line or "RUNPATH" in line:
                if str(build) in line or str(source) in line:
                    fail(f"{b} points into the build or source tree: {line.strip()}")


def main():
    source, build = (Path(a).resolve() for a in sys.argv[1:3])
    for module in ("venv", "ensurepip", "pip", "setuptools", "wheel"):
        if subprocess.run([sys.executable, "-c", f"import {module}"],
                          capture_output=True).returncode != 0:
            print(f"python.pip: skipped: {sys.executable} lacks {module} (Debian: apt-get install "
                  "python3-venv python3-pip python3-setuptools python3-wheel)")
            return 77
    m = re.search(r"^project\(gift VERSION ([0-9.]+)", (source / "CMakeLists.txt").read_text(),
                  re.M)
    version = m.group(1)
    before = snapshot(source, build)

    tmp = Path(tempfile.mkdtemp(prefix="gift-pip-"))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
        env.update(GIFT_CMAKE_BUILD_DIR=str(build), GIFT_PIP_BUILD_DIR=str(tmp / "pip-build"),
                   PIP_CACHE_DIR=str(tmp / "pip-cache"), PIP_DISABLE_PIP_VERSION_CHECK="1",
                   HOME=str(tmp))
        venv = tmp / "venv"
        run([sys.executable, "-m", "venv", "--system-site-packages", venv], tmp, env)
        pip = [venv / "bin" / "python", "-m", "pip"]

        run(pip + ["install", "--no-build-isolation", "--no-index", source], tmp, env)
        check_installed(venv, tmp, env, version, source, build)

        # An editable install is refused (it would put the extension, without the CLI, into
        # python/gift/ of the source tree: the snapshot below checks that nothing was written).
        r = run(pip + ["install", "--no-build-isolation", "--no-index", "-e", source], tmp, env,
                check=False)
        if r.returncode == 0 or "gift: error: pip install -e" not in r.stdout + r.stderr:
            fail(f"pip install -e: exit {r.returncode}, expected gift's error:\n{r.stdout}"
                 f"\n{r.stderr}")

        # A wheel: platform-specific, with the binary (executable) and the console script; the
        # same checks after installing it in place of the first install.
        run(pip + ["uninstall", "-y", "gift"], tmp, env)
        if (venv / "bin" / "gift").exists():
            fail("pip uninstall gift left the venv's bin/gift")
        run(pip + ["wheel", "--no-build-isolation", "--no-index", "--no-deps", "-w",
                   tmp / "wheels", source], tmp, env)
        wheels = list((tmp / "wheels").glob("gift-*.whl"))
        if len(wheels) != 1 or wheels[0].name.endswith("-any.whl"):
            fail(f"expected one platform wheel gift-{version}-*.whl, found {wheels}")
        with zipfile.ZipFile(wheels[0]) as z:
            names = {i.filename: i for i in z.infolist()}
            cli = names.get("gift/bin/gift")
            if cli is None or not (cli.external_attr >> 16) & 0o100:
                fail(f"{wheels[0].name}: no executable gift/bin/gift in {sorted(names)}")
            scripts = z.read(f"gift-{version}.dist-info/entry_points.txt").decode()
            if "gift = gift._cli:main" not in scripts:
                fail(f"{wheels[0].name}: entry_points.txt lacks the gift script:\n{scripts}")
        run(pip + ["install", "--no-index", wheels[0]], tmp, env)
        check_installed(venv, tmp, env, version, source, build)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    after = snapshot(source, build)
    changed = sorted(str(p) for p in set(before) | set(after) if before.get(p) != after.get(p))
    if changed:
        fail("the source tree changed: " + ", ".join(changed[:20]))
    print(f"python.pip: gift {version} installed by pip (from the tree and from a wheel) into a "
          "venv: import gift and the gift command work there")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Builds the Python package `gift` with CMake, for pip (pyproject.toml; docs/python.md):

    pip install --no-build-isolation --no-index .     # into the active venv or conda env
    pip wheel --no-build-isolation --no-index .       # a wheel of the same

The package is python/gift/*.py, the extension gift/_gift*.so (CMake target _gift) and the gift
command, shipped as gift/bin/gift (target gift_cli) and run by the console script `gift`
(gift/_cli.py). Both are built for the Python that runs pip (-DPython3_EXECUTABLE) and link
libgift statically, so the installed package refers to no build directory. Only those two
targets are built: no tests, benchmarks or MPI, and never -Werror.

Environment:
  GIFT_NATIVE=ON          compile for this machine's CPU (-march=native). Default OFF: the
                          package (and a wheel) runs on any x86-64 CPU.
  GIFT_CMAKE_BUILD_DIR    an existing CMake build directory of this repository, configured for
                          this Python's version: its _gift and gift_cli are brought up to date
                          (usually nothing to do) and packaged as they are, with that build's
                          options, instead of configuring a build of their own.
  GIFT_PIP_BUILD_DIR      where the build goes (default build-pip in this directory): the CMake
                          tree, kept so that the next pip install is incremental, and
                          setuptools' staging and metadata.
  CMAKE_ARGS              more arguments for the CMake configuration, e.g.
                          -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
  CMAKE_BUILD_PARALLEL_LEVEL  build jobs (default: every CPU)
Relative directories are relative to this file's directory.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def fail(what):
    raise SystemExit(f"gift: error: {what}")


def project_version():
    """project(gift VERSION x.y.z) in CMakeLists.txt, the one place the version is written."""
    m = re.search(r"^project\(gift VERSION ([0-9][0-9.]*)", (ROOT / "CMakeLists.txt").read_text(),
                  re.M)
    if not m:
        fail(f"{ROOT / 'CMakeLists.txt'}: expected 'project(gift VERSION x.y.z', found none")
    return m.group(1)


def env_dir(name, default=None):
    value = os.environ.get(name) or default
    return (ROOT / value).resolve() if value else None


def run(args):
    print("gift: " + shlex.join(str(a) for a in args), flush=True)
    try:
        subprocess.run([str(a) for a in args], check=True)
    except FileNotFoundError:
        fail(f"{args[0]}: not found (Debian: apt-get install {args[0]})")
    except subprocess.CalledProcessError as e:
        fail(f"{shlex.join(str(a) for a in args)} failed with exit status {e.returncode} "
             "(its output is above)")


def configure(build_dir):
    native = os.environ.get("GIFT_NATIVE", "OFF")
    if native not in ("ON", "OFF"):
        fail(f"GIFT_NATIVE: expected ON or OFF, found '{native}'")
    run(["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
         "-DGIFT_WERROR=OFF", f"-DGIFT_NATIVE={native}", "-DGIFT_BUILD_TESTS=OFF",
         "-DGIFT_BUILD_BENCH=OFF", "-DGIFT_MPI=OFF", "-DBUILD_SHARED_LIBS=OFF",
         "-DGIFT_PYTHON=ON", "-DGIFT_PYTHON_REQUIRED=ON",
         f"-DPython3_EXECUTABLE={sys.executable}"] + shlex.split(os.environ.get("CMAKE_ARGS", "")))


class CMakeBuild(build_ext):
    """Builds the targets _gift and gift_cli with CMake and copies them into the package."""

    def build_extension(self, ext):
        if self.inplace or getattr(self, "editable_mode", False):
            fail("pip install -e (editable) is not supported: use pip install ., or "
                 "PYTHONPATH=build/python with a CMake build (docs/python.md)")
        reuse = env_dir("GIFT_CMAKE_BUILD_DIR")
        if reuse:
            if not (reuse / "CMakeCache.txt").is_file():
                fail(f"GIFT_CMAKE_BUILD_DIR={reuse}: not a CMake build directory "
                     "(no CMakeCache.txt)")
            build_dir = reuse
        else:
            build_dir = Path(self.build_temp).resolve() / "cmake"
            configure(build_dir)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        run(["cmake", "--build", build_dir, "--target", "_gift", "gift_cli", "-j", jobs])

        # Where python/CMakeLists.txt (LIBRARY_OUTPUT_DIRECTORY) and apps/gift/CMakeLists.txt
        # (RUNTIME_OUTPUT_DIRECTORY, OUTPUT_NAME) put them.
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        module = build_dir / "python" / "gift" / f"_gift{suffix}"
        cli = build_dir / "gift"
        if not module.is_file():
            found = sorted(p.name for p in (build_dir / "python" / "gift").glob("_gift*"))
            fail(f"{module}: not found (found: {', '.join(found) or 'nothing'}): "
                 f"{build_dir} is not configured for this Python ({sys.executable}); "
                 f"configure it with -DPython3_EXECUTABLE={sys.executable}")
        if not cli.is_file():
            fail(f"{cli}: not found after building gift_cli in {build_dir}")
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(module, target)
        shutil.copymode(module, target)
        bin_dir = target.parent / "bin"
        bin_dir.mkdir(exist_ok=True)
        shutil.copyfile(cli, bin_dir / "gift")
        shutil.copymode(cli, bin_dir / "gift")


# setuptools' staging (build/...) and metadata (gift.egg-info) go into GIFT_PIP_BUILD_DIR, so
# that a pip install writes nothing else into the source tree.
pip_build = env_dir("GIFT_PIP_BUILD_DIR", "build-pip")
pip_build.mkdir(parents=True, exist_ok=True)

setup(
    version=project_version(),
    packages=["gift"],
    package_dir={"gift": "python/gift"},
    ext_modules=[Extension("gift._gift", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": str(pip_build)},
             "egg_info": {"egg_base": str(pip_build)}},
)

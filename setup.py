"""Packages of the cliniloop distribution: the top-level folders, imported as ``cliniloop.<folder>``.

pyproject.toml holds the metadata; this file only maps the folders services/, models/, connectors/
and taxonomies/ to the ``cliniloop`` import namespace (setuptools ``package_dir``), so an install
puts nothing named ``services`` or ``models`` at the top of site-packages.
"""

from setuptools import find_packages, setup

FOLDERS = ("services", "models", "connectors", "taxonomies")

setup(
    packages=[f"cliniloop.{name}" for name in find_packages(include=[*FOLDERS, *(f"{f}.*" for f in FOLDERS)])],
    package_dir={f"cliniloop.{folder}": folder for folder in FOLDERS},
)

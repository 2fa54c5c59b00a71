"""Installs the repository's top-level folders as one namespace: ``model/`` as ``sam2refiner.model``, ``service/``
as ``sam2refiner.service``, ``weights/`` as ``sam2refiner.weights``; nothing is installed as a bare ``model`` or
``service``. Everything else about the distribution is in pyproject.toml."""

from setuptools import find_packages, setup

FOLDERS = ("model", "service", "weights")

setup(
    packages=[f"sam2refiner.{name}" for name in find_packages(include=[f"{folder}*" for folder in FOLDERS])],
    package_dir={f"sam2refiner.{folder}": folder for folder in FOLDERS},
)

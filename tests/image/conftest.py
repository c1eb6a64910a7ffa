"""The container image, built (only when missing or stale) before the first image test.

The build runs in ``pytest_collection_finish``, outside any per-test timeout: a cold machine
installs docker.io and debootstrap, starts dockerd and debootstraps the base image (about a
minute); a warm one only checks the image's source-hash label (well under a second). If the
image cannot be built, every image test fails with the reason: these tests are never skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import imagekit

_built_key = pytest.StashKey[imagekit.BuiltImage | BaseException]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "image: builds and runs the container image (Docker engine, see docs/image.md)"
    )


def _is_image_test(item: pytest.Item) -> bool:
    return item.get_closest_marker("image") is not None


def pytest_collection_finish(session: pytest.Session) -> None:
    if not any(_is_image_test(item) for item in session.items):
        return
    try:
        built = imagekit.ensure_image()
    except Exception as exc:  # reported by the `image` fixture, as a failure of each test
        session.config.stash[_built_key] = exc
        return
    session.config.stash[_built_key] = built
    what = "built" if built.rebuilt else "up to date"
    imagekit.log(f"{built.image} {what} ({built.image_id[7:19]}); steps: {built.timings}")


@pytest.fixture(scope="session")
def image(request: pytest.FixtureRequest) -> imagekit.BuiltImage:
    prepared = request.config.stash.get(_built_key, None)
    if prepared is None:  # e.g. an image test selected in some way the hook did not see
        try:
            prepared = imagekit.ensure_image()
        except Exception as exc:
            prepared = exc
        request.config.stash[_built_key] = prepared
    if isinstance(prepared, BaseException):
        log = imagekit.dockerd_log()
        pytest.fail(
            f"the container image could not be built: {prepared}\n"
            f"(dockerd log: {log}; see docs/image.md)",
            pytrace=False,
        )
    return prepared

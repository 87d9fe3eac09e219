"""Docker fixtures. `make test` brings up the engine and builds the images first (scripts/build_sandbox_images.sh);
when the engine is unreachable these tests FAIL with the fix in the message: they are never skipped silently."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def python_image() -> str:
    from sandboxes.images import ensure_image

    return ensure_image("python")


@pytest.fixture(scope="session")
def terminal_image() -> str:
    from sandboxes.images import ensure_image

    return ensure_image("terminal")


@pytest.fixture(scope="session")
def code_pool(python_image):
    from sandboxes.limits import SandboxLimits
    from sandboxes.pool import SandboxPool

    pool = SandboxPool(python_image, SandboxLimits(wall_s=8.0), size=2)
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def runner(code_pool):
    from sandboxes.code_runner import CodeRunner

    return CodeRunner(code_pool, case_timeout_s=2.0)

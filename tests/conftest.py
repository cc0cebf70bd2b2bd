"""Shared test settings: hypothesis profiles, and the Dask cluster of the worker tests.

``default`` keeps the whole suite well under a minute on two cores;
``thorough`` (``HYPOTHESIS_PROFILE=thorough``) runs ten times the examples
for a slower, deeper search. No example database is written, and a failing
test reports its first bug, shrunk, without the slow "explain" phase.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

_COMMON = dict(
    deadline=None,
    database=None,
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

settings.register_profile("default", max_examples=25, **_COMMON)
settings.register_profile("thorough", max_examples=250, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def cluster():
    """One real 2-process Dask cluster for every test that asks (started on first use)."""
    distributed = pytest.importorskip("distributed")
    from cecli.dask import local_cluster

    with local_cluster(2) as local, distributed.Client(local) as client:
        yield client


@pytest.fixture(autouse=True)
def _one_task_per_shard(request, monkeypatch):
    """The worker tests' shards are tiny: each is its own task, so the merges run on workers.

    Otherwise every test shard would go in one run of shards (``task_groups``);
    the tests of the runs set ``TASK_VALUES`` themselves.
    """
    if request.module.__name__.startswith("test_dask"):
        from cecli.dask import _tasks

        monkeypatch.setattr(_tasks, "TASK_VALUES", 1)

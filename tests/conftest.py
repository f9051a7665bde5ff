from __future__ import annotations

import itertools
import os

import pytest
from click.testing import CliRunner

from tests.pg_server import PostgresServer

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server):
    return pg_server.create_database(f"t{os.getpid()}_{next(_counter)}")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    """A fresh store location on each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "csmine.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store_path(tmp_path):
    return str(tmp_path / "csmine.db")


@pytest.fixture
def cli():
    from csmine.cli import cli as root

    runner = CliRunner()

    def invoke(*args, input=None, env=None):
        return runner.invoke(root, [str(a) for a in args], input=input, env=env, catch_exceptions=False)

    return invoke

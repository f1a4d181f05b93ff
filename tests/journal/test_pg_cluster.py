"""The private PostgreSQL cluster the PostgreSQL tests run against (tests/pg_cluster.py)."""

from __future__ import annotations

import pytest

from tests.pg_cluster import PgCluster, pg_available, pg_cluster_fixture

pytestmark = pytest.mark.skipif(not pg_available(), reason="PostgreSQL or psycopg not installed")
pg_cluster = pg_cluster_fixture()


def test_cluster_keeps_data_across_a_restart(pg_cluster: PgCluster) -> None:
    """A committed row survives a restart on the same port; a stopped server refuses."""
    import psycopg

    url = pg_cluster.create_database("cluster_probe")
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE t (v int)")
        conn.execute("INSERT INTO t VALUES (7)")
    pg_cluster.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    pg_cluster.start_again()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT v FROM t").fetchall() == [(7,)]
    assert pg_cluster.url("x").endswith(f":{pg_cluster.port}/x")

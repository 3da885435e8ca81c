"""Issue 19, defects 1, 5 and 9: the audit trail cannot be rewritten through REPLACE, upserts or
TRUNCATE, nor given unbounded strings, and SQL errors never print bound parameters."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cliniloop.services.core.audit import AuditDetailError
from cliniloop.services.core.store import Store

# statements a process holding the app's database connection could send to rewrite event 1
SQLITE_REWRITES = [
    "INSERT OR REPLACE INTO audit_events (id, at, actor, action, entity, entity_id, details) "
    "VALUES (1, '2020-01-01 00:00:00', 'mallory', 'nothing', 'x', NULL, '{}')",
    "REPLACE INTO audit_events (id, at, actor, action, entity, entity_id, details) "
    "VALUES (1, '2020-01-01 00:00:00', 'mallory', 'nothing', 'x', NULL, '{}')",
    "INSERT INTO audit_events (id, at, actor, action, entity, entity_id, details) "
    "VALUES (1, '2020-01-01 00:00:00', 'mallory', 'nothing', 'x', NULL, '{}') ON CONFLICT(id) DO UPDATE SET actor = 'mallory'",
]


@pytest.mark.parametrize("statement", SQLITE_REWRITES, ids=["insert-or-replace", "replace-into", "upsert"])
def test_sqlite_refuses_inserts_that_reuse_an_id(store: Store, statement: str) -> None:
    store.audit("alice", "export", "task", "t1", regions=2)
    with pytest.raises(DBAPIError, match="append-only"):
        with store.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    [event] = store.audit_events()
    assert (event.id, event.actor, event.action, event.details) == (1, "alice", "export", {"regions": 2})
    store.audit("bob", "export", "task", "t2")  # new ids still go in
    assert [e.actor for e in store.audit_events()] == ["alice", "bob"]


def test_truncate_and_upsert_are_refused_on_both_databases(any_store: Store) -> None:
    any_store.audit("alice", "export", "task", "t1", regions=2)
    if any_store.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            with any_store.engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE audit_events")
    upsert = (
        "INSERT INTO audit_events (id, at, actor, action, entity, details) VALUES (1, CURRENT_TIMESTAMP, 'm', 'x', 'x', '{}') "
        "ON CONFLICT (id) DO UPDATE SET actor = 'mallory'"
    )
    with pytest.raises(DBAPIError, match="append-only"):
        with any_store.engine.begin() as conn:
            conn.exec_driver_sql(upsert)
    [event] = any_store.audit_events()
    assert (event.actor, event.details) == ("alice", {"regions": 2})


def test_postgresql_app_role_without_rewrite_grants(any_store: Store) -> None:
    """The README's grants: the app role may read and append, never update, delete or truncate."""
    if any_store.engine.dialect.name != "postgresql":
        pytest.skip("grants are PostgreSQL's")
    any_store.audit("alice", "export", "task", "t1")
    with any_store.engine.begin() as conn:
        conn.exec_driver_sql("DROP ROLE IF EXISTS cliniloop_app_test")
        conn.exec_driver_sql("CREATE ROLE cliniloop_app_test")
        conn.exec_driver_sql("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO cliniloop_app_test")
        conn.exec_driver_sql("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO cliniloop_app_test")
        conn.exec_driver_sql("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM cliniloop_app_test")
    try:
        for statement in ["TRUNCATE audit_events", "DELETE FROM audit_events", "UPDATE audit_events SET actor = 'm'"]:
            with pytest.raises(DBAPIError, match="permission denied"):
                with any_store.engine.begin() as conn:
                    conn.exec_driver_sql("SET LOCAL ROLE cliniloop_app_test")
                    conn.exec_driver_sql(statement)
        with any_store.engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL ROLE cliniloop_app_test")
            conn.exec_driver_sql("INSERT INTO audit_events (at, actor, action, entity, details) VALUES (CURRENT_TIMESTAMP, 'app', 'x', 'x', '{}')")
        assert [e.actor for e in any_store.audit_events()] == ["alice", "app"]
    finally:
        with any_store.engine.begin() as conn:
            conn.exec_driver_sql("DROP OWNED BY cliniloop_app_test")
            conn.exec_driver_sql("DROP ROLE cliniloop_app_test")


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("entity_id", {"entity_id": "/x" * 10_011}),
        ("actor", {"actor": "a" * 257}),
        ("action", {"action": "b" * 65}),
        ("entity", {"entity": "c" * 65}),
    ],
)
def test_event_fields_are_bounded_on_every_database(any_store: Store, field: str, kwargs: dict) -> None:
    event = {"actor": "anonymous", "action": "access_denied", "entity": "api", "entity_id": "/p"} | kwargs
    with pytest.raises(AuditDetailError, match=f"'{field}'"):
        any_store.audit(event["actor"], event["action"], event["entity"], event["entity_id"], status=401)
    assert any_store.audit_events() == []


def test_sql_errors_do_not_print_bound_parameters(store: Store) -> None:
    note = "Pt seen for chest pain, Dr Surrogate Name"
    assert store.engine.hide_parameters
    with pytest.raises(DBAPIError) as err:
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO no_such_table (x) VALUES (:x)"), {"x": note})
    assert note not in str(err.value) and "parameters hidden" in str(err.value)

"""The demo's summary table: every project URL printed whole, also in an 80-column terminal."""

from __future__ import annotations

from rich.console import Console

from cliniloop.services.cli.demo import projects_table


def test_project_urls_are_not_cut_in_a_narrow_terminal() -> None:
    rows = [("text", "/projects/1/data", "20 notes by uncertainty"),
            ("image-boxes", "/projects/12/data", "4 tasks by uncertainty (round 4), mean uncertainty 0.696")]  # fmt: skip
    console = Console(width=80, record=True, color_system=None)
    console.print(projects_table("http://127.0.0.1:8080", rows))
    out = console.export_text()
    assert "http://127.0.0.1:8080/projects/1/data" in out
    assert "http://127.0.0.1:8080/projects/12/data" in out
    assert "0.696" in out  # the queue column wraps, it is not dropped

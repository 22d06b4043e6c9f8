"""Describe the DAGs in dags/ as JSON; run with the Airflow venv's python, not by pytest.

    AIRFLOW_HOME=$(mktemp -d) AIRFLOW__CORE__LOAD_EXAMPLES=False \
        .venv-airflow/bin/python tests/integration/airflow_dag_probe.py dags/

test_airflow_dags.py runs it in a subprocess (Airflow cannot be imported in the main venv)
and asserts on the printed description: import errors, tasks, retries, timetables and
asset schedules, the ingest operator's arguments (as written and as rendered for the data
intervals below), its outlets.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

# Months whose data intervals the test checks: run_after -> the interval the timetable gives.
RUN_AFTER = ("2024-03-01T05:00:00+00:00", "2025-01-01T00:00:00+00:00")
# What `var.value.<name>` gives when the templates are rendered here (no metadata DB).
VARIABLES = {
    "chesscom_players": "hikaru, magnuscarlsen",
    "oura_accounts": "me",
    "whoop_accounts": "me",
}


def _condition(condition: Any) -> Any:
    """An asset expression as JSON: a URI, {"any": [...]} or {"all": [...]}."""
    from airflow.sdk import Asset
    from airflow.sdk.definitions.asset import AssetAll, AssetAny

    if isinstance(condition, Asset):
        return condition.uri
    if isinstance(condition, AssetAny):
        return {"any": [_condition(c) for c in condition.objects]}
    if isinstance(condition, AssetAll):
        return {"all": [_condition(c) for c in condition.objects]}
    return repr(condition)


def _rendered(dag: Any, task: Any, content: Any, interval: list[str]) -> Any:
    """`content` rendered as the task would render it for this data interval."""
    import pendulum

    start, end = (pendulum.instance(datetime.fromisoformat(b)) for b in interval)
    context = {
        "data_interval_start": start,
        "data_interval_end": end,
        "var": {"value": VARIABLES},
        "dag": dag,
    }
    return task.render_template(content, context, dag.get_template_env())


def _interval(dag: Any, run_after: str) -> list[str]:
    from airflow.serialization.encoders import coerce_to_core_timetable

    timetable = coerce_to_core_timetable(dag.timetable)
    moment = datetime.fromisoformat(run_after).astimezone(UTC)
    interval = timetable.infer_manual_data_interval(run_after=moment)
    return [interval.start.isoformat(), interval.end.isoformat()]


def _task(task: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": type(task).__name__,
        "retries": task.retries,
        "retry_exponential_backoff": task.retry_exponential_backoff,
        "retry_delay": task.retry_delay.total_seconds(),
        "max_retry_delay": task.max_retry_delay.total_seconds() if task.max_retry_delay else None,
        "upstream": sorted(task.upstream_task_ids),
        "pool": task.pool,
        "doc_md": task.doc_md or "",
        "outlets": [getattr(o, "uri", repr(o)) for o in task.outlets],
    }
    if out["type"] == "SparkSubmitOperator":
        out.update(
            application=task.application,
            application_args=task.application_args,
            conn_id=task._conn_id,
            env_vars=task.env_vars,
            properties_file=repr(task.properties_file),
        )
    elif out["type"] == "GlueJobOperator":
        out.update(
            job_name=task.job_name,
            script_location=task.script_location,
            script_args=task.script_args,
            iam_role_name=task.iam_role_name,
            region_name=task.region_name,
            aws_conn_id=task.aws_conn_id,
            create_job_kwargs=task.create_job_kwargs,
        )
    elif out["type"] == "_BashDecoratedOperator":
        # @task.bash: the callable returns the command (it takes no arguments here).
        out.update(command=task.python_callable(), cwd=task.cwd)
    elif out["type"] == "TimeDeltaSensor":
        out.update(delta=task.delta.total_seconds(), deferrable=task.deferrable)
    return out


def main(dags_folder: str) -> None:
    # Airflow puts a DAG bundle's folder on sys.path when it parses it; DagBag does not.
    sys.path.append(dags_folder)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags_folder)
    # The macros of each DAG applied to the intervals, as the templates will see them.
    out: dict[str, Any] = {"import_errors": bag.import_errors, "dags": {}}
    for dag_id, dag in bag.dags.items():
        intervals = {r: _interval(dag, r) for r in RUN_AFTER}
        tasks = {t.task_id: _task(t) for t in dag.tasks}
        # The ingest task's arguments rendered for each interval, as the job receives them.
        rendered = {}
        if "ingest" in dag.task_dict:
            ingest = dag.task_dict["ingest"]
            args = getattr(ingest, "application_args", None) or ingest.script_args
            rendered = {r: _rendered(dag, ingest, args, i) for r, i in intervals.items()}
        condition = getattr(dag.timetable, "asset_condition", None)
        macros = dag.user_defined_macros or {}
        months = {}
        if "month_from" in macros:
            for r, (start, end) in intervals.items():
                s, e = datetime.fromisoformat(start), datetime.fromisoformat(end)
                months[r] = [macros["month_from"](s, e), macros["month_to"](s, e)]
        out["dags"][dag_id] = {
            "fileloc": dag.fileloc,
            "tags": sorted(dag.tags),
            "doc_md": dag.doc_md or "",
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "timetable": type(dag.timetable).__name__,
            "intervals": intervals,
            "months": months,
            "schedule_assets": _condition(condition) if condition is not None else None,
            "rendered_ingest_args": rendered,
            "tasks": tasks,
        }
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(sys.argv[1])

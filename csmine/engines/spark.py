"""The Spark engine: the aggregates of :mod:`csmine.engines.queries` run by Spark SQL over
the Parquet export, in local mode or on any cluster.

:class:`SparkEngine` reads the export's event files (``DIR/events/month=YYYY-MM/*.parquet``,
written by ``csmine export DIR --format parquet --partition month``) with Spark's Hive
partition discovery, defines ``events`` over them with
:func:`event_store.readmodel.relation.parquet_events_select` (``unix_micros`` is Spark's
spelling of "microseconds since the epoch"), and runs the very query texts the other
engines run, with the :data:`~csmine.engines.queries.SPARK` dialect (``percentile`` and an
ordered ``collect_list`` for the variant sequence). The lookups (``activity_info``,
``limits``: a few rows) become small in-memory tables that Spark broadcasts to the joins.

Only aggregates travel back to the driver (a row per activity, path, variant or ticket),
as Arrow. The alignments run on the driver, once per distinct variant, with csmine's own
engine (:func:`csmine.engines.results.engine_conformance`), and are joined back to the
tickets by their counts: the executors run SQL only, no Python, so on a cluster only the
driver needs csmine installed.

Where it runs is the caller's choice, passed in as arguments (this module reads no
environment): ``master`` (``local[2]``, ``spark://host:7077``, ``yarn``,
``k8s://https://...``; None: whatever ``spark-submit`` set, else Spark's default
``local[*]``) and ``conf`` (any ``spark.*`` setting). The command line maps
``--spark-master`` / ``SPARK_MASTER`` and ``--spark-conf`` onto them (``docs/scale.md``).

Without PySpark or without a working Java the engine raises
:class:`~csmine.errors.EngineError` naming the fix (``pip install 'csmine[spark]'``,
``scripts/bootstrap.sh --test``, Debian's ``default-jre-headless``).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csmine.engines.base import Engine, Lookups, check_parquet_export, filter_condition
from csmine.engines.queries import EVENT_COLUMN_NAMES, SPARK
from csmine.errors import EngineError

if TYPE_CHECKING:
    import pandas as pd

    from csmine.eventlog.filters import LogFilter

#: The master the tests, CI and the benchmark use: local mode on two cores.
LOCAL_MASTER = "local[2]"

#: The driver's log4j2 configuration (errors only), shipped beside this module.
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")

_INSTALL_SPARK = ("install it with `pip install 'csmine[spark]'` (in a checkout: `scripts/bootstrap.sh --test`, "
                  "which also installs Java)")
_INSTALL_JAVA = ("install Java 17 or newer (Debian: `apt-get install default-jre-headless`; "
                 "`scripts/bootstrap.sh --test` does it) or point JAVA_HOME at one")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _local_cores(master: str | None) -> int | None:
    """Cores of a ``local[N]`` master (``local``: 1, ``local[*]``: this machine's); None off local mode."""
    if master is None:
        return None
    m = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\s*\d+)?\])?", master.strip())
    if not m:
        return None
    if m.group(1) in (None, ""):
        return 1
    if m.group(1) == "*":
        return os.cpu_count() or 1
    return int(m.group(1))


def session_conf(master: str | None, conf: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings csmine starts a session with: quiet, UTC, and in local mode no web UI
    and a few shuffle partitions (Spark's 200 suit a cluster, not two cores); ``conf``
    wins over each of them."""
    out = {
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}",
    }
    cores = _local_cores(master)
    if cores is not None:
        out["spark.ui.enabled"] = "false"
        out["spark.sql.shuffle.partitions"] = str(max(2, 2 * cores))
    out.update({str(k): str(v) for k, v in (conf or {}).items()})
    return out


def start_session(master: str | None = LOCAL_MASTER, conf: Mapping[str, str] | None = None,
                  app_name: str = "csmine") -> tuple[Any, bool]:
    """A SparkSession, and whether it was started here (the caller then stops it).

    A session already running in this process (a notebook's, a test session's) is
    reused, in a child session with its own temporary views, and left running.

    Args:
        master: Spark master URL; None leaves it to ``spark-submit`` or Spark's default.
        conf: extra ``spark.*`` settings (they win over csmine's, see :func:`session_conf`).
        app_name: the application's name on the cluster.

    Raises:
        EngineError: PySpark is not installed, or Java is missing, too old or does not start.
    """
    try:
        from pyspark.errors import PySparkRuntimeError
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise EngineError(f"--engine spark needs PySpark, which is not installed: {_INSTALL_SPARK}") from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active.newSession(), False
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in session_conf(master, conf).items():
        builder = builder.config(key, value)
    try:
        with warnings.catch_warnings():
            # PySpark 4 warns about pandas 3 on start; the engine moves Arrow tables, not pandas frames.
            warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
            spark = builder.getOrCreate()
    except PySparkRuntimeError as exc:
        condition = exc.getCondition() if hasattr(exc, "getCondition") else exc.getErrorClass()
        if condition in ("JAVA_GATEWAY_EXITED", "JAVA_GATEWAY_NOT_FOUND"):
            raise EngineError(f"--engine spark could not start Java (Spark {_pyspark_version()} runs on a "
                              f"Java 17+ virtual machine): {_INSTALL_JAVA}") from exc
        raise EngineError(f"--engine spark could not start a Spark session on {master or 'the default master'}: "
                          f"{exc}") from exc
    spark.sparkContext.setLogLevel("ERROR")
    given = spark.sparkContext.getConf()
    if _local_cores(master) is None and not given.contains("spark.sql.shuffle.partitions"):
        cores = _local_cores(spark.sparkContext.master)  # no master asked for: Spark's default may be local
        if cores is not None:
            spark.conf.set("spark.sql.shuffle.partitions", str(max(2, 2 * cores)))
    return spark, True


def _pyspark_version() -> str:
    import pyspark

    return str(pyspark.__version__)


def _events_location(source: str, check: bool = True) -> str:
    """The export's event folder; a local folder is checked (against its manifest too:
    :func:`~csmine.engines.base.check_parquet_export`) before Spark is asked."""
    base = source.rstrip("/")
    if _is_remote(base):
        return f"{base}/events"
    local = Path(base.removeprefix("file://"))
    folder = local / "events"
    if not folder.is_dir() or not any(folder.iterdir()):
        raise EngineError(f"{source} holds no Parquet export (no events/ folder with partitions): write one with "
                          "`csmine export DIR --format parquet --partition month`")
    if check:
        check_parquet_export(str(local))
    return str(folder.resolve())


def _is_remote(base: str) -> bool:
    return bool(_URI.match(base)) and not base.startswith("file://")


def check_remote_export(spark: Any, source: str, files: Sequence[str]) -> None:
    """An export on a cluster's file system (``hdfs://``, ``s3a://``): its ``manifest.json``,
    read through Spark, must list exactly the event files Spark found (``files``, the
    read's input files), each with its row count in the Parquet footers Spark reads.

    Raises:
        EngineError: no manifest, or the files differ from it.
    """
    import json

    base = source.rstrip("/")
    again = f"export again with `csmine export DIR --format parquet --partition month` and copy it to {source}"
    try:
        text = spark.read.text(f"{base}/manifest.json", wholetext=True).collect()[0][0]
        manifest = json.loads(text)
    except Exception as exc:  # noqa: BLE001 -- Spark's errors for a missing or unreadable file differ by system
        raise EngineError(f"{source} has no readable manifest.json ({type(exc).__name__}): an engine reads only a "
                          f"checked export; {again}") from None
    listed = {f["file"] for p in manifest.get("partitions", {}).values() for f in p["files"]
              if f["file"].startswith("events/")}
    found = {"events/" + f.split("/events/", 1)[1] for f in files if "/events/" in f}
    problems = [f"{f} is missing" for f in sorted(listed - found)] + \
        [f"{f} is not in the manifest" for f in sorted(found - listed)]
    if problems:
        raise EngineError(f"{source} does not match its manifest: {'; '.join(problems[:3])}. Nothing was read; {again}")


def _spark_type(portable: str) -> Any:
    from pyspark.sql.types import LongType, StringType

    return LongType() if portable == "BIGINT" else StringType()


class SparkEngine(Engine):
    """Spark SQL over a Parquet export (a local folder, ``hdfs://``, ``s3a://``, ...).

    Args:
        source: the export's folder or URI (holding ``events/``); on a cluster every
            executor must reach it (HDFS, S3, a shared disk mounted at the same path).
        log_filter: tickets to keep (the opening window and case fields; see
            :func:`~csmine.engines.base.filter_condition`).
        master: Spark master URL (default ``local[2]``; None: ``spark-submit``'s).
        conf: extra ``spark.*`` settings.
        session: a running SparkSession to use (the engine works in a child session of
            it, with its own temporary views, and leaves it running on close); None:
            the engine starts one and stops it on close.
        cache: keep the events in executor memory between queries (faster when the
            export fits the cluster's memory; several aggregates read it).
        check: check the export against its manifest before reading (a local folder:
            every file's SHA-256 and row count, no file beside them; a cluster URI: the
            manifest lists exactly the event files Spark finds).
    """

    name = "spark"
    dialect = SPARK

    def __init__(self, source: str, log_filter: LogFilter | None = None, *, master: str | None = LOCAL_MASTER,
                 conf: Mapping[str, str] | None = None, session: Any = None, cache: bool = False,
                 check: bool = True) -> None:
        from event_store.readmodel.relation import parquet_events_select

        where = filter_condition(log_filter, self.name)
        location = _events_location(source, check)
        self._check_remote = check and _is_remote(source.rstrip("/"))
        if session is None:
            self.spark, self._owned = start_session(master, conf)
        else:
            self.spark, self._owned = session.newSession(), False
        try:
            self._register_events(location, source, where, parquet_events_select)
            if cache:
                self.spark.sql("CACHE TABLE events")
        except BaseException:
            self.close()
            raise

    def _register_events(self, location: str, source: str, where: str, select_of: Any) -> None:
        from pyspark.errors import AnalysisException

        try:
            raw = self.spark.read.parquet(location)
        except AnalysisException as exc:
            raise EngineError(f"Spark cannot read the Parquet export at {source} ({exc.getCondition()}): write one "
                              "with `csmine export DIR --format parquet --partition month` where every executor "
                              "can reach it") from exc
        if self._check_remote:
            check_remote_export(self.spark, source, raw.inputFiles())
        raw.createOrReplaceTempView("csmine_export_events")
        select = select_of("csmine_export_events", lambda c: f"unix_micros({c})", raw.columns)
        cols = ", ".join((*EVENT_COLUMN_NAMES, "ticket_key"))
        self.spark.sql(f"CREATE OR REPLACE TEMP VIEW events AS SELECT {cols} FROM ({select}) e"
                       + (f" WHERE {where}" if where else ""))

    @property
    def master(self) -> str:
        """The master the session runs on (``local[2]``, ``spark://...``, ``yarn``)."""
        return str(self.spark.sparkContext.master)

    def run(self, queries: Sequence[str], lookups: Lookups) -> list[pd.DataFrame]:
        """One pandas frame per query (collected as Arrow), the lookups registered meanwhile."""
        from pyspark.sql.types import StructField, StructType

        for name, (columns, rows) in lookups.items():
            schema = StructType([StructField(c, _spark_type(t), True) for c, t in columns])
            self.spark.createDataFrame([tuple(r) for r in rows], schema).createOrReplaceTempView(name)
        try:
            return [self.spark.sql(sql).toArrow().to_pandas() for sql in queries]
        finally:
            for name in lookups:
                self.spark.catalog.dropTempView(name)

    def close(self) -> None:
        """Drop the engine's views; stop the session if the engine started it."""
        spark = getattr(self, "spark", None)
        if spark is None:
            return
        if self._owned:
            spark.stop()
        else:
            for view in ("events", "csmine_export_events"):
                spark.catalog.dropTempView(view)
        self.spark = None


__all__ = ["LOCAL_MASTER", "SparkEngine", "check_remote_export", "session_conf", "start_session"]

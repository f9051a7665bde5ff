"""Run a csmine command as a Spark application: this script is the driver that spark-submit starts.

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit --master spark://head:7077 \\
        scripts/spark_app.py discover --engine spark --parquet hdfs:///lake/csmine --json

Everything after the script's name is a csmine command line (`csmine --help`). Leave out
--spark-master (and SPARK_MASTER): the master, the executors' sizes and every --conf are
spark-submit's. The executors run Spark SQL only, so only this driver needs csmine
installed; the export must be where every executor can read it (docs/scale.md).
"""

from __future__ import annotations

import sys

from csmine.cli import cli

if __name__ == "__main__":
    sys.exit(cli(args=sys.argv[1:], prog_name="csmine"))

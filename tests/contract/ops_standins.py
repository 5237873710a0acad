"""Run the operations stand-ins by hand (docs/operations.md, "Rehearsing it here"):

    python -m tests.contract.ops_standins --config-dir /tmp/gcloud-ops > /tmp/ops-env.sh

starts the Monitoring/Logging stand-in for the staging project (notification channels 101
and 201 exist) and the Cloud SQL/IAM stand-in for the prod project (instance
`meta-ad-studio-db` with a backup three hours old; the runtime account holds only
roles/run.invoker), prints the gcloud settings as `export` lines, and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.contract.cloudsql_iam_standin import CloudSqlIamStandIn
from tests.contract.gcloud_env import hermetic
from tests.contract.monitoring_standin import MonitoringStandIn

RUNTIME = "meta-ad-studio-run@meta-ad-studio-prod.iam.gserviceaccount.com"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, required=True, help="a throwaway gcloud "
                        "config folder (CLOUDSDK_CONFIG)")
    parser.add_argument("--monitoring-project", default="meta-ad-studio-staging")
    parser.add_argument("--sql-project", default="meta-ad-studio-prod")
    args = parser.parse_args(argv)
    monitoring = MonitoringStandIn(args.monitoring_project, channels=("101", "201"))
    cloud = CloudSqlIamStandIn(args.sql_project)
    with monitoring, cloud:
        cloud.instance("meta-ad-studio-db",
                       backups=[("SUCCESSFUL", datetime.now(UTC) - timedelta(hours=3))])
        cloud.bind("roles/run.invoker", f"serviceAccount:{RUNTIME}")
        settings = {**hermetic(args.config_dir, args.monitoring_project),
                    "CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING": monitoring.endpoint,
                    "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING": monitoring.endpoint,
                    "CLOUDSDK_API_ENDPOINT_OVERRIDES_SQL": cloud.endpoint,
                    "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER": cloud.endpoint}
        for key, value in settings.items():
            print(f"export {key}={shlex.quote(value)}", flush=True)
        print("serving; Ctrl-C stops", file=sys.stderr, flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
        for name, standin in (("monitoring", monitoring), ("cloudsql/iam", cloud)):
            print(f"{name}: {len(standin.requests)} requests, {len(standin.changes)} changes",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    raise SystemExit(main())

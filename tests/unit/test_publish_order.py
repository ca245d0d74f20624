"""The reader snapshot is published last: after every other asset, in every job."""

from assets.publish import READER_SNAPSHOT
from orchestration.definitions import defs
from orchestration.jobs import JOBS


def test_reader_snapshot_runs_after_every_other_asset_in_every_job() -> None:
    graph = defs.resolve_asset_graph()
    others = {k for k in graph.materializable_asset_keys if k != READER_SNAPSHOT}
    missing = others - graph.get(READER_SNAPSHOT).parent_keys
    assert not missing, (
        f"publish/reader_snapshot would not wait for {sorted(k.to_user_string() for k in missing)}: "
        "add them to PUBLISH_AFTER in assets/publish.py"
    )
    assert graph.get(READER_SNAPSHOT).group_name == "publish"
    for job in JOBS:
        keys = set(defs.resolve_job_def(job.name).asset_layer.executable_asset_keys)
        assert READER_SNAPSHOT in keys, f"job {job.name} does not publish the reader snapshot"

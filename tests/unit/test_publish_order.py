"""The reader snapshot is published last: after every other asset of the all_assets job."""

from assets.publish import READER_SNAPSHOT
from orchestration.definitions import defs


def test_reader_snapshot_runs_after_every_other_asset() -> None:
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def("all_assets")
    in_job = set(job.asset_layer.executable_asset_keys)
    assert READER_SNAPSHOT in in_job
    others = {k for k in graph.materializable_asset_keys if k != READER_SNAPSHOT}
    missing = others - graph.get_ancestor_asset_keys(READER_SNAPSHOT)
    assert not missing, (
        f"publish/reader_snapshot would not wait for {sorted(k.to_user_string() for k in missing)}: "
        "add the new leaf assets to PUBLISH_AFTER in assets/publish.py"
    )
    assert graph.get(READER_SNAPSHOT).group_name == "publish"

"""Pod-log lines are redacted whole, before dagster-k8s splits them into log items; pure."""

from __future__ import annotations

import pytest
from dagster_k8s.pipes import _process_log_stream

from floe_dagster_secrets.masking import get_masker
from floe_dagster_secrets.pipes.masked_logs import _RedactedLogResponse, _RedactingCoreApi

VALUE = "canary-value-0123456789"


class _Response:
    """The part of urllib3's HTTPResponse dagster-k8s reads: iteration and stream()."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.released = False

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.chunks)

    def stream(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        return iter(self.chunks)

    def release_conn(self) -> None:
        self.released = True


class _CoreApi:
    def __init__(self, response: object) -> None:
        self.response = response

    def read_namespaced_pod_log(self, *args: object, **kwargs: object) -> object:
        return self.response

    def list_namespaced_pod(self, *args: object, **kwargs: object) -> str:
        return "listed"


@pytest.fixture(autouse=True)
def _registered(fresh_masker: None) -> None:
    get_masker().register(VALUE)


def _chunks_splitting_the_value() -> list[bytes]:
    line1 = f"2026-12-03T10:00:00.000000000Z token={VALUE} done\n".encode()
    line2 = b'2026-12-03T10:00:01.000000000Z {"__dagster_pipes_version": "0.1"}\n'
    cut = line1.index(VALUE.encode()) + 6  # the value straddles two chunks
    return [line1[:cut], line1[cut:] + line2[:10], line2[10:]]


def test_a_value_split_across_chunks_is_redacted_and_items_are_intact() -> None:
    response = _RedactedLogResponse(_Response(_chunks_splitting_the_value()))
    items = list(_process_log_stream(iter(response)))
    assert [item.log for item in items] == [
        "token=*** done",
        '{"__dagster_pipes_version": "0.1"}',
    ]


def test_stream_and_other_attributes_pass_through() -> None:
    raw = _Response(_chunks_splitting_the_value())
    response = _RedactedLogResponse(raw)
    assert VALUE.encode() not in b"".join(response.stream())
    response.release_conn()
    assert raw.released


def test_the_api_view_redacts_pod_logs_only() -> None:
    api = _RedactingCoreApi(_CoreApi(_Response([f"x {VALUE}\n".encode()])))
    assert b"".join(api.read_namespaced_pod_log("pod", "ns")) == b"x ***\n"
    assert api.list_namespaced_pod("ns") == "listed"
    assert _RedactingCoreApi(_CoreApi(f"plain {VALUE}")).read_namespaced_pod_log() == "plain ***"

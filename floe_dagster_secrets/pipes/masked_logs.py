"""Pod logs of a Pipes process, redacted before Dagster reads them.

``PipesK8sPodLogsMessageReader`` reads the pod's log stream, hands Pipes protocol lines to Dagster
and writes every other line to the step's stdout (captured into the compute logs, shown in the
UI). A secret the external process prints would land there verbatim: Dagster has no masker. The
reader here gives dagster-k8s's reader a view of the Kubernetes API whose pod-log responses are
redacted line by line with floe's process-wide masker, so everything downstream — forwarded
lines, ``log_external_stream`` text, Pipes ``log`` messages and reported metadata — only ever sees
redacted text. dagster-k8s's own reading code (follow, retries, timestamps, multi-container
streams) is used unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster_k8s.pipes import PipesK8sPodLogsMessageReader

from floe_dagster_secrets.masking import get_masker


def _redacted_lines(chunks: Any) -> Iterator[bytes]:
    """Whole lines of ``chunks`` (bytes), each redacted; a line is never split across chunks.

    A value split over two chunks would escape a per-chunk redaction, so lines are assembled
    first. The masker works on text: each line is decoded (invalid bytes replaced) and encoded
    again.
    """
    masker = get_masker()
    pending = b""
    for chunk in chunks:
        pending += chunk if isinstance(chunk, bytes) else str(chunk).encode()
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield masker.redact(line.decode(errors="replace")).encode() + b"\n"
    if pending:
        yield masker.redact(pending.decode(errors="replace")).encode()


class _RedactedLogResponse:
    """A pod-log HTTP response whose iteration and ``stream()`` yield redacted whole lines."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        return _redacted_lines(self._response)

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        """Like ``urllib3.HTTPResponse.stream``, redacted."""
        return _redacted_lines(self._response.stream(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)  # release_conn, close, status …


class _RedactingCoreApi:
    """A ``CoreV1Api`` whose ``read_namespaced_pod_log`` answers are redacted; else the same."""

    def __init__(self, core_api: Any) -> None:
        self._core_api = core_api

    def read_namespaced_pod_log(self, *args: Any, **kwargs: Any) -> Any:
        """The pod's log; a streamed response (``_preload_content=False``) is redacted by line."""
        response = self._core_api.read_namespaced_pod_log(*args, **kwargs)
        if isinstance(response, str):
            return get_masker().redact(response)
        return _RedactedLogResponse(response)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core_api, name)


class MaskedPodLogsMessageReader(PipesK8sPodLogsMessageReader):
    """dagster-k8s's pod-log message reader, reading through floe's masker.

    Only values this process's masker knows are redacted: values fetched here through a floe
    backend (``SecretValue`` registers them) or registered explicitly.
    ``FloePipesK8sClient`` reads the pod's secrets once before launching it for that reason.
    """

    def consume_pod_logs(self, context: Any, core_api: Any, pod_name: str, namespace: str) -> None:
        """dagster-k8s's single-container log consumption, on the redacting API view."""
        super().consume_pod_logs(
            context=context,
            core_api=_RedactingCoreApi(core_api),
            pod_name=pod_name,
            namespace=namespace,
        )

    @contextmanager
    def async_consume_pod_logs(
        self, context: Any, core_api: Any, pod_name: str, namespace: str
    ) -> Iterator[None]:
        """dagster-k8s's multi-container log consumption, on the redacting API view."""
        with super().async_consume_pod_logs(
            context=context,
            core_api=_RedactingCoreApi(core_api),
            pod_name=pod_name,
            namespace=namespace,
        ):
            yield

"""SecretWatch: which Secrets an object references, one watch per Secret, wake-ups on change."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from vast_operator.secretwatch import CHANGED, FORBIDDEN, SecretWatch, referenced_secrets


class FakeStreams:
    def __init__(self) -> None:
        self.emitters: dict[tuple[str, str], Callable[[str], None]] = {}
        self.started: list[tuple[str, str]] = []
        self.stopped: list[tuple[str, str]] = []

    def watch_secret(
        self, namespace: str, name: str, emit: Callable[[str], None]
    ) -> Callable[[], None]:
        key = (namespace, name)
        self.started.append(key)
        self.emitters[key] = emit
        return lambda: self.stopped.append(key)


def make(streams: FakeStreams | None) -> tuple[SecretWatch, list[str], list[tuple[str, str]]]:
    woken: list[str] = []
    dropped: list[tuple[str, str]] = []
    watch = SecretWatch(
        streams, wake=woken.append, invalidate=lambda ns, name: dropped.append((ns, name))
    )
    return watch, woken, dropped


def instance(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "a", "uid": "u1"}, "spec": spec}


def test_references_come_from_credentials_env_and_ssh_keys_not_the_connection_secret() -> None:
    body = instance(
        credentialsRef={"name": "vast"},
        env=[
            {"name": "A", "value": "x"},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}},
        ],
        sshKeys=[{"secretKeyRef": {"name": "keys", "key": "id.pub"}}, {"publicKey": "ssh-ed"}],
        connectionSecretRef={"name": "written-by-the-operator"},
    )
    assert referenced_secrets(body) == {"vast", "hf", "keys"}


def test_references_survive_a_spec_that_does_not_parse() -> None:
    body = instance(credentialsRef={"name": "vast"}, env="not a list", sshKeys=[{"bad": 1}])
    assert referenced_secrets(body) == {"vast"}
    assert referenced_secrets({"metadata": {}}) == frozenset()


def test_one_watch_per_secret_shared_by_objects_and_stopped_when_unreferenced() -> None:
    streams = FakeStreams()
    watch, _, _ = make(streams)
    watch.track("u1", "a", {"vast", "hf"})
    watch.track("u2", "a", {"vast"})
    watch.track("u3", "b", {"vast"})  # same name, other namespace: another Secret
    assert sorted(streams.started) == [("a", "hf"), ("a", "vast"), ("b", "vast")]
    watch.track("u1", "a", {"vast"})  # u1 no longer uses hf
    assert streams.stopped == [("a", "hf")]
    watch.untrack("u2")
    assert ("a", "vast") not in streams.stopped  # u1 still uses it
    watch.untrack("u1")
    assert streams.stopped[-1] == ("a", "vast")
    assert watch.watched() == {("b", "vast")}


def test_a_change_drops_the_cache_and_wakes_every_object_that_uses_the_secret() -> None:
    streams = FakeStreams()
    watch, woken, dropped = make(streams)
    watch.track("u1", "a", {"vast"})
    watch.track("u2", "a", {"vast", "hf"})
    watch.track("u3", "a", {"hf"})
    streams.emitters[("a", "vast")](CHANGED)
    assert woken == ["u1", "u2"]
    assert dropped == [("a", "vast")]
    assert watch.changes == 1


def test_tracking_the_same_references_again_starts_nothing() -> None:
    streams = FakeStreams()
    watch, _, _ = make(streams)
    for _ in range(3):
        watch.track("u1", "a", {"vast"})
    assert streams.started == [("a", "vast")]
    assert streams.stopped == []


def test_forbidden_switches_to_the_fallback_for_good() -> None:
    streams = FakeStreams()
    watch, woken, _ = make(streams)
    watch.track("u1", "a", {"vast", "hf"})
    streams.emitters[("a", "vast")](FORBIDDEN)
    assert sorted(streams.stopped) == [("a", "hf"), ("a", "vast")]
    assert not watch.enabled and woken == []
    watch.track("u2", "a", {"other"})
    assert ("a", "other") not in streams.started


def test_without_streams_nothing_is_watched() -> None:
    watch, _, _ = make(None)
    watch.track("u1", "a", {"vast"})
    assert watch.watched() == set()


class _Answer:
    def __init__(self, version: str) -> None:
        self.data = json.dumps({"metadata": {"resourceVersion": version}}).encode()

    def release_conn(self) -> None:
        pass


class _Core:
    """A CoreV1Api whose watch is answered 410 Gone once, then fails while the stream stops."""

    def __init__(self, versions: list[str]) -> None:
        self.versions = versions
        self.watches: list[dict[str, Any]] = []
        self.stream: Any = None

    def read_namespaced_secret(self, name: str, namespace: str, **_: Any) -> _Answer:
        return _Answer(self.versions.pop(0))

    def list_namespaced_secret(self, namespace: str, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        self.watches.append(kwargs)
        if len(self.watches) == 1:
            raise ApiException(status=410, reason="Gone")
        self.stream.stop()
        raise ApiException(status=500, reason="stopping")


def test_a_stream_told_its_version_is_gone_reads_again_and_reports_the_move() -> None:
    from vast_operator.kube_watch import SecretStream

    core = _Core(["1", "2"])
    seen: list[str] = []
    stream = SecretStream(core, "a", "vast", seen.append)  # type: ignore[arg-type]
    core.stream = stream
    stream.RETRY = 0.0
    stream.run()  # on this thread: ends when stopped
    assert [w["resource_version"] for w in core.watches] == ["1", "2"]
    assert seen == [CHANGED]  # the Secret moved from 1 to 2 while the watch was gone

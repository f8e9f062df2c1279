"""Kubernetes plumbing shared by the Kubernetes and ESO backends, the run launcher and the CLI.

Not a backend: what more than one caller needs to talk to a Kubernetes API server.

- ``http.py``: one JSON request (timeout, bounded retries, connection released) and the
  ``PartialObjectMetadata`` ``Accept`` headers.
- ``errors.py``: the client's exceptions (and the apiserver's ``Status``) turned into this
  package's error tree.
- ``objects.py``: Secret bodies, input checks and ``SecretMetadata`` from a Secret's JSON.
- ``watch.py``: Secret metadata per namespace, kept current by a WATCH (the launcher's pre-flight).
- ``pod_spec.py``: ``envFrom`` / ``secretKeyRef`` fragments and what a backend contributes to a
  run's pod.
- ``rbac.py``: the Roles and bindings a manifest's runs need; ``rollout.py``: restarting the
  workloads that use a rotated Secret.
"""

"""Kubernetes plumbing shared by the Kubernetes and ESO backends, the run launcher and the CLI.

Not a backend: what more than one caller needs to talk to a Kubernetes API server, in one home,
so no caller reaches into the Kubernetes backend's folder for it.

- ``http.py``: one JSON request (timeout, bounded retries, connection released) and the
  ``PartialObjectMetadata`` ``Accept`` headers.
- ``errors.py``: the client's exceptions and the apiserver's ``Status`` (``status_body``) turned
  into this package's error tree.
- ``names.py``: the DNS-1123 name rules and the Secret key rule (manifest, backends and CLI).
- ``objects.py``: Secret bodies, input checks and ``SecretMetadata`` from a Secret's JSON.
- ``watch.py``: Secret metadata per namespace, kept current by a WATCH (the launcher's pre-flight).
- ``pod_spec.py``: ``envFrom`` / ``secretKeyRef`` fragments and what a backend contributes to a
  run's pod.
- ``rbac.py``: the Roles and bindings a manifest's runs need; ``rollout.py``: restarting the
  workloads that use a rotated Secret; ``audit_policy.py``: the apiserver audit policy.
"""

"""Secrets backends: one folder per backend behind one interface, found by entry point.

```
backends/
  base.py        SecretsPlugin (the interface and each backend's one declaration: name, label,
                 config model, extra, resource, version_source, pod_reads_kubernetes_secrets,
                 kubernetes_rules, no_restart_reason) + the runtime_checkable capabilities
  registry.py    the ``floe.secrets`` entry-point group: ``load_backend_class(type)``
  factory.py     a plugin from a manifest (its config model's ``backend_kwargs()``) + overrides
  validation.py  the Secret rules every backend enforces (names via kube/names.py, size, UTF-8)
  _retry.py      the allow-list of transient failures, bounded backoff, never a 404
  local/         plugin.py files.py
  kubernetes/    plugin.py  (its plumbing, shared with ESO and the launcher: ../kube/)
  vault/         plugin.py session.py credentials.py kv.py dynamic.py leases.py errors.py policy.py
  eso/           plugin.py api.py objects.py stores.py sync.py preflight.py render.py apply.py
```

A backend is one folder plus one entry point: its ``__init__`` exports what others may use
(the plugin class first); nothing outside the folder imports its other modules
(``tests/unit/backends/test_backend_boundaries.py`` checks). Code elsewhere asks a capability
(``isinstance(plugin, ContributesToRunPod)``…) or reads a declaration, and never tests a
backend's name (the same test walks every comparison outside the backend folders).
"""

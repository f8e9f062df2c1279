"""``floe secrets audit-policy``: print the kube-apiserver audit policy floe ships.

ADR-0023: "MUST audit secret access via K8s audit logs". The policy logs every read of a Secret at
``Metadata`` level (who, what, when; never the body, which holds the values). Loaded only when
asked for, like the other rarely used commands.
"""

from __future__ import annotations

import click


@click.command("audit-policy")
def audit_policy_command() -> None:
    """Print the kube-apiserver audit policy for secrets (Metadata level: never a value).

    Start kube-apiserver with --audit-policy-file=FILE --audit-log-path=LOG (or a webhook
    backend): every read of a Secret is then logged with the identity that made it.
    """
    from floe_dagster_secrets.kube.audit_policy import policy_text

    # byte for byte the shipped file (no values in it), so `> policy.yaml` is the file itself
    click.echo(policy_text(), nl=False)

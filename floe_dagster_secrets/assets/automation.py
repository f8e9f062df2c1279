"""Declarative automation on the secret → asset edges, for projects that automate that way.

The rotation sensor stays the default trigger (docs/lineage.md says which to use when). Where a
project already drives its assets with ``AutomationCondition``, :func:`on_secret_rotation` makes
a rotation one more reason to run: it is true for an asset when one of its ``secrets/<name>``
deps was observed with a new data version since the last evaluation (the rotation sensor and
the ``Observe`` action record those observations) and the asset is not already running.
"""

import warnings

import dagster as dg

from floe_dagster_secrets.assets.keys import SECRET_ASSET_PREFIX


def on_secret_rotation() -> dg.AutomationCondition[dg.AssetKey]:
    """Run the asset once after a secret it uses (a ``secrets/*`` dep) gets a new version.

    Combine it with the asset's other conditions, e.g. ``AutomationCondition.eager() |
    on_secret_rotation()``. Only direct ``secrets/*`` deps count, so downstream assets follow
    through their own conditions.
    """
    # The secret assets are external (source) assets, which a prefix selection leaves out unless
    # asked; ``include_sources`` is beta in dagster 1.13 (a warning, not a behaviour change).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        secrets = dg.AssetSelection.key_prefixes(SECRET_ASSET_PREFIX, include_sources=True)
    rotated = dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated()).allow(
        secrets
    )
    return (rotated & ~dg.AutomationCondition.in_progress()).with_label("on_secret_rotation")

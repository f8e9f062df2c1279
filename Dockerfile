# syntax=docker/dockerfile:1
# The user-code image of a floe code location: Python 3.11 on Debian bookworm, a virtualenv at
# /opt/venv with floe-dagster-secrets and everything a run pod needs (dagster, dagster-k8s,
# dagster-dbt, dagster-postgres, dbt-duckdb, dbt-postgres, psycopg2, hvac), and the demo
# definitions at /opt/floe/project. The same image serves as the code server (the default
# command) and as the run worker `FloeK8sRunLauncher` starts (`dagster api execute_run …`).
#
#   docker build -t floe/user-code .                                   # from the repository root
#   docker build --secret id=pipcert,src=/path/to/ca-bundle.crt ...    # pip behind a TLS proxy
#
# The CA bundle secret is mounted for the pip steps only: it never lands in a layer, and neither
# does pip's cache (a cache mount). docs/image.md shows how to build this file without Docker.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false

# 1. Third-party dependencies, from pyproject.toml alone (the package's own dependencies plus its
#    `vault` and `postgres` extras), so that editing the package's code does not reinstall them.
COPY pyproject.toml /tmp/floe-build/pyproject.toml
RUN --mount=type=secret,id=pipcert \
    --mount=type=cache,target=/root/.cache/pip,sharing=locked \
    set -eu; \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi; \
    python3 -m venv /opt/venv; \
    cd /tmp/floe-build; \
    python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; x = p["optional-dependencies"]; print("\n".join(p["dependencies"] + x["vault"] + x["postgres"]))' > requirements.txt; \
    pip install --progress-bar off "setuptools>=69" wheel -r requirements.txt; \
    rm -rf /tmp/floe-build

# 2. The package itself: no network needed (no dependencies, no isolated build environment).
COPY pyproject.toml README.md /tmp/floe-build/
COPY floe_dagster_secrets /tmp/floe-build/floe_dagster_secrets
RUN pip install --no-deps --no-build-isolation --no-cache-dir --progress-bar off /tmp/floe-build \
    && rm -rf /tmp/floe-build

# 3. The code location, owned by an unprivileged user. Group 0 gets the owner's rights, so the
#    image also works under an arbitrary UID in group root (OpenShift's restricted SCC).
#    dbt writes target/ (and the demo its warehouse) inside the project directory.
RUN useradd --uid 10001 --gid 0 --home-dir /opt/floe --no-create-home \
        --shell /usr/sbin/nologin floe \
    && mkdir -p /opt/floe/project "${DAGSTER_HOME}"
COPY workspace.yaml /opt/floe/project/workspace.yaml
COPY definitions /opt/floe/project/definitions
WORKDIR /opt/floe/project
# Parse the dbt project now (target/manifest.json, the generated profile), so neither the code
# server nor a run pod pays for `dbt parse` at start. No secret is read: parsing uses placeholders.
RUN python -c "from definitions.project import load_project; load_project()" \
    && rm -rf definitions/dbt_project/logs \
    && find /opt/floe -name __pycache__ -prune -exec rm -rf {} + \
    && chown -R 10001:0 /opt/floe "${DAGSTER_HOME}" \
    && chmod -R g=u /opt/floe "${DAGSTER_HOME}"
USER 10001

EXPOSE 4000
# The code server; a run pod overrides the command with `dagster api execute_run …`.
CMD ["dagster", "api", "grpc", "-m", "definitions.definitions", "-a", "defs", "-h", "0.0.0.0", "-p", "4000"]

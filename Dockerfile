# syntax=docker/dockerfile:1
# The image of a floe Dagster deployment: Python 3.11 on Debian bookworm, a virtualenv at /opt/venv
# with floe-dagster-secrets and the extras named by FLOE_EXTRAS (by default everything the demo
# deployment runs: dagster, dagster-k8s, dagster-webserver, dagster-postgres, dagster-dbt, dbt-duckdb,
# dbt-postgres, psycopg2, hvac), and the demo definitions at /opt/floe/project. The same image serves
# as the code server (the default command), the run worker `FloeK8sRunLauncher` starts
# (`dagster api execute_run …`), the daemon (`dagster-daemon run`) and the webserver
# (`dagster-webserver`): deploy/ runs all four from it.
#
#   docker build -t floe/user-code .                                   # from the repository root
#   docker build --build-arg FLOE_EXTRAS=vault,postgres -t … .          # the library only, no demo
#   docker build --secret id=pipcert,src=/path/to/ca-bundle.crt ...    # pip behind a TLS proxy
#
# The CA bundle secret is mounted for the pip steps only: it never lands in a layer, and neither
# does pip's cache (a cache mount). docs/image.md shows how to build this file without Docker.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# 0. The requirement list, from pyproject.toml (the package's dependencies plus its extras,
#    self-references expanded). A stage of its own: the dependency layer below is keyed by the
#    list's content, so an edit of pyproject.toml that leaves it unchanged (a version bump, a tool
#    setting) does not reinstall anything.
FROM ${BASE_IMAGE} AS requirements
ARG FLOE_EXTRAS=vault,postgres,demo,dbt-postgres
COPY pyproject.toml constraints.txt tools/image/requirements.py /tmp/floe-build/
RUN python3 /tmp/floe-build/requirements.py /tmp/floe-build/pyproject.toml "${FLOE_EXTRAS}" \
        > /tmp/floe-build/requirements.txt

FROM ${BASE_IMAGE}

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false

# 1. Third-party dependencies at the versions the project tests (constraints.txt), so that editing
#    the package's code does not reinstall them.
COPY --from=requirements /tmp/floe-build/requirements.txt /tmp/floe-build/constraints.txt /tmp/floe-deps/
RUN --mount=type=secret,id=pipcert \
    --mount=type=cache,target=/root/.cache/pip,sharing=locked \
    set -eu; \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi; \
    python3 -m venv /opt/venv; \
    pip install --progress-bar off "setuptools>=77" wheel \
        -r /tmp/floe-deps/requirements.txt -c /tmp/floe-deps/constraints.txt; \
    rm -rf /tmp/floe-deps

# 2. The package itself: no network needed (no dependencies, no isolated build environment). The
#    README is not copied (an edit of the docs would make a new image): a one-line stand-in
#    satisfies the package metadata.
COPY pyproject.toml LICENSE /tmp/floe-build/
COPY floe_dagster_secrets /tmp/floe-build/floe_dagster_secrets
RUN echo "floe-dagster-secrets: see the project's README" > /tmp/floe-build/README.md \
    && pip install --no-deps --no-build-isolation --no-cache-dir --progress-bar off /tmp/floe-build \
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

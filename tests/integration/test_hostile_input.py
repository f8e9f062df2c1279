"""Hostile input to the real ``floe`` process (issue 17, points 1–7), each with a time/RSS bound.

Tried as a hostile but realistic user would: a colleague who edits the manifest, another local
user who can write into the store, a pipe with far too much in it. Every case runs the installed
console script in a fresh process and measures it from a small wrapper process whose only child
is ``floe``, so ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is floe's own peak RSS. The bounds are
generous for a loaded 2-core machine (20 s, 300 MB); before the fixes these cases took minutes
and gigabytes, or hung.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from dotenv import dotenv_values

pytestmark = pytest.mark.integration

FLOE = Path(sys.executable).parent / "floe"
MAX_SECONDS = 20.0
MAX_RSS_MB = 300.0
CANARY = "canary-hostile-5e1d7b3a90"
NS = "floe-jobs"

MANIFEST = textwrap.dedent(
    """\
    environment: dev
    plugins:
      secrets:
        type: local
        namespace: floe-jobs
      compute:
        type: duckdb
        connection_secret_ref: duckdb-dev-credentials
        config:
          path: warehouse.duckdb
    """
)

# Runs floe as its only child, feeding it N MiB on stdin from a 1 MiB buffer (as `cat big |`
# would: the wrapper stays small, so floe's RSS is not inflated by pages it shares after fork),
# and reports floe's peak RSS.
_MEASURE = textwrap.dedent(
    """\
    import contextlib, json, resource, subprocess, sys, tempfile, threading, time
    feed_mib, argv = int(sys.argv[1]), sys.argv[2:]
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    start = time.monotonic()
    stdin = subprocess.PIPE if feed_mib else subprocess.DEVNULL
    proc = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=err)

    def feed():
        chunk = b"x" * (1024 * 1024)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(b"BIG=")
            for _ in range(feed_mib):
                proc.stdin.write(chunk)
            proc.stdin.write(b"\\n")
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()

    if feed_mib:
        threading.Thread(target=feed, daemon=True).start()
    code = proc.wait(timeout=120)
    seconds = time.monotonic() - start
    out.seek(0)
    err.seek(0)
    print(json.dumps({
        "code": code,
        "stdout": out.read().decode("utf-8", "replace"),
        "stderr": err.read().decode("utf-8", "replace"),
        "seconds": seconds,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))
    """
)


@dataclass(frozen=True)
class Measured:
    """One finished ``floe`` process: exit code, output, wall time and peak RSS."""

    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float

    @property
    def error(self) -> str:
        """stderr on one line (rich wraps long messages)."""
        return " ".join(self.stderr.split())

    def assert_clear_error(self, *needles: str) -> None:
        """Exit 1 with our error and fix, within the bounds, never the bug fallback."""
        assert self.code == 1, (self.code, self.stdout, self.stderr)
        assert "Error: " in self.stderr
        assert "Fix: " in self.error
        assert "This is a bug in floe" not in self.error
        assert "Traceback" not in self.stderr
        for needle in needles:
            assert needle in self.error, self.error
        assert self.seconds < MAX_SECONDS, self.seconds
        assert self.max_rss_mb < MAX_RSS_MB, self.max_rss_mb


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "manifest.yaml").write_text(MANIFEST)
    (tmp_path / "home").mkdir()
    return tmp_path


def _env(project: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(project / "home"),
        "LANG": "C.UTF-8",
    }


def floe(project: Path, *args: str, feed_mib: int = 0) -> Measured:
    """Run ``floe ARGS`` in ``project`` and measure it."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(feed_mib), str(FLOE), *args],
        cwd=project,
        env=_env(project),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return Measured(**json.loads(done.stdout))


def floe_with_stdin(project: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``floe ARGS`` with ``stdin`` (small input, no measurement)."""
    return subprocess.run(
        [str(FLOE), *args],
        cwd=project,
        env=_env(project),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def alias_bomb(levels: int = 9) -> str:
    """About 660 bytes that expand to 9**levels values under plugins.compute.config."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return MANIFEST + "".join(f"      {line}\n" for line in lines)


# -- 1. Jinja in a setting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("schema: \"{{ env_var('DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY') }}\"", "config.schema"),
        ("role: \"{{ modules.os.system('id') }}\"", "config.role"),
        ('settings: {comment: "{% if true %}x{% endif %}"}', "config.settings.comment"),
        ('hooks: ["ok", "{# hidden #}"]', "config.hooks[1]"),
    ],
)
def test_jinja_in_a_setting_is_refused_naming_the_field(
    project: Path, setting: str, field: str
) -> None:
    (project / "manifest.yaml").write_text(MANIFEST + f"      {setting}\n")
    for args in (
        ("secrets", "validate"),
        ("profiles", "render", "--output-dir", "out"),
    ):
        result = floe(project, *args)
        result.assert_clear_error(f"plugins.compute.{field}", "holds Jinja")
        assert "env_var(" not in result.error
        assert "os.system" not in result.error
    assert not (project / "out" / "profiles.yml").exists()


# -- 2. YAML hardening -----------------------------------------------------------------------


@pytest.mark.parametrize("command", [("secrets", "validate"), ("profiles", "render")])
def test_alias_bomb_is_refused_fast_and_small(project: Path, command: tuple[str, ...]) -> None:
    bomb = alias_bomb()
    assert len(bomb.encode()) - len(MANIFEST) < 700  # 9**9 = 387 million values once expanded
    (project / "bomb.yaml").write_text(bomb)
    result = floe(project, *command, "--manifest", "bomb.yaml")
    result.assert_clear_error("bomb.yaml", "expands to more than 100000 values")
    assert result.seconds < 10


def test_dev_zero_fifo_and_huge_file_end_in_a_clear_error(project: Path) -> None:
    floe(project, "secrets", "validate", "--manifest", "/dev/zero").assert_clear_error(
        "not a regular file (it is a character device)", "/dev/zero"
    )
    os.mkfifo(project / "pipe.yaml")  # nobody writes to it: reading it would hang
    floe(project, "secrets", "validate", "--manifest", "pipe.yaml").assert_clear_error(
        "not a regular file (it is a named pipe)", "pipe.yaml"
    )
    with (project / "huge.yaml").open("wb") as f:  # 50 MB; sparse, but a file all the same
        f.write(MANIFEST.encode())
        f.truncate(50 * 1000 * 1000)
    floe(project, "secrets", "validate", "--manifest", "huge.yaml").assert_clear_error(
        "huge.yaml", "over 1048576 bytes (1 MiB)"
    )


def test_merge_keys_are_standard_yaml(project: Path) -> None:
    (project / "manifest.yaml").write_text(
        textwrap.dedent(
            """\
            environment: dev
            plugins:
              secrets:
                <<: {type: local, namespace: other}
                namespace: floe-jobs
              compute:
                type: duckdb
                connection_secret_ref: duckdb-dev-credentials
                config: {path: warehouse.duckdb}
            """
        )
    )
    _create(project, "duckdb-dev-credentials")  # lands in floe-jobs: explicit keys win
    result = floe(project, "secrets", "validate")
    assert result.code == 1, result.stderr  # the manifest is valid; the secret lacks a key
    assert "✗ duckdb-dev-credentials: missing key DUCKDB_ENCRYPTION_KEY" in result.stdout


# -- 3 and 4. The local store ----------------------------------------------------------------


def _create(project: Path, name: str, value: str = CANARY) -> None:
    result = floe(project, "secrets", "create", name, "--from-literal", f"PASSWORD={value}")
    assert result.code == 0, result.stderr


def test_store_directories_open_to_others_are_refused(project: Path) -> None:
    _create(project, "pg-dev-credentials")
    ns_dir = project / ".floe" / "secrets" / NS
    for directory in (ns_dir.parent, ns_dir):
        directory.chmod(0o777)  # another local user could swap in their own 0600 file
        result = floe(project, "secrets", "get", "pg-dev-credentials", "--reveal", "--force")
        result.assert_clear_error("group or others can write into it", f"chmod 700 {directory}")
        assert CANARY not in result.stdout + result.stderr
        directory.chmod(0o700)
    result = floe(project, "secrets", "get", "pg-dev-credentials", "--reveal", "--force")
    assert result.stdout == f"PASSWORD={CANARY}\n"


def test_one_bad_file_does_not_break_the_namespace(project: Path) -> None:
    for name in ("a-dev-credentials", "b-dev-credentials", "c-dev-credentials"):
        _create(project, name)
    ns_dir = project / ".floe" / "secrets" / NS
    (ns_dir / "b-dev-credentials.json").write_text('{"version": ' + "9" * 5000 + "}")
    document = json.loads((ns_dir / "c-dev-credentials.json").read_text())
    document["data"] = {"bad key/../x": "v"}
    (ns_dir / "c-dev-credentials.json").write_text(json.dumps(document))

    listed = floe(project, "secrets", "list")
    assert listed.code == 0, listed.stderr
    assert "a-dev-credentials   Opaque" in listed.stdout
    assert "✗ b-dev-credentials: Secret file is corrupted: it holds a number of more" in (
        listed.stdout
    )
    assert "✗ c-dev-credentials: Secret file is corrupted: 1 key name(s)" in listed.stdout
    assert "bad key" not in listed.stdout
    status = floe(project, "secrets", "status")
    assert status.code == 0, status.stderr
    assert "✗ b-dev-credentials" in status.stdout
    assert "a-dev-credentials" in status.stdout
    floe(project, "secrets", "get", "b-dev-credentials").assert_clear_error(
        "Secret file is corrupted", "b-dev-credentials.json"
    )
    assert CANARY not in listed.stdout + status.stdout


def test_empty_namespace_or_store_path_is_a_usage_error(project: Path) -> None:
    for option in ("--namespace", "--store-path"):
        result = floe(project, "secrets", "list", option, "")
        assert result.code == 2, result.stderr
        assert "must not be empty" in result.error


def test_store_path_dot_at_a_repository_root_hides_none_of_the_users_files(
    project: Path,
) -> None:
    git = shutil.which("git")
    assert git is not None, "git is needed for this test"
    repo = project / "repo"
    repo.mkdir()
    subprocess.run([git, "init", "-q", str(repo)], check=True)
    (repo / "notes.txt").write_text("mine\n")
    result = floe(
        repo,
        "secrets",
        "create",
        "x-dev-credentials",
        "--backend",
        "local",
        "--store-path",
        ".",
        "--from-literal",
        f"A={CANARY}",
    )
    assert result.code == 0, result.stderr
    assert not (repo / ".gitignore").exists()
    untracked = subprocess.run(
        [git, "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert untracked.splitlines() == ["?? notes.txt"]  # the store is ignored, the user's not


# -- 5. stdin that is not KEY=VALUE ----------------------------------------------------------


@pytest.mark.parametrize("token", ["dG9rZW4tdmFsdWUtMTIzNDU2Nzg5MA==", "dG9r+ZW4/dmFsdWUtMTIzNA=="])
def test_bare_token_on_stdin_is_refused_without_echo(project: Path, token: str) -> None:
    result = floe_with_stdin(
        project, token + "\n", "secrets", "create", "tok-dev-credentials", "--from-stdin"
    )
    assert result.returncode == 1, result.stderr
    assert "Line 1 of stdin" in result.stderr
    assert token not in result.stdout + result.stderr
    assert token.rstrip("=") not in result.stdout + result.stderr
    listed = floe(project, "secrets", "list")
    assert "tok-dev-credentials" not in listed.stdout  # nothing was created


# -- 6. get --reveal --force is safe to source -----------------------------------------------


def _dotenv_quoted(value: str) -> str:
    """How a user writes the value in an env file: single quotes if it has '$' or '`'."""
    if "$" in value or "`" in value:
        return f"'{value}'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_revealed_values_source_back_exactly_in_sh_and_python_dotenv(
    project: Path, tmp_path: Path
) -> None:
    pwned = tmp_path / "pwned"
    values = {
        "CMD": f"$(touch {pwned})",
        "BACKTICK": f"`touch {pwned}`",
        "VAR": "$HOME and $1 and $",
        "QUOTES": 'it\'s "quoted"',
        "BACKSLASH": "C:\\path\\n\\\\",
        "NEWLINES": "line1\nline2\n",
        "SPACES": "  two words  # not a comment",
        "EQUALS": "=starts=with=",
        "UNICODE": "ümlaut ✓ \u2028 \x1c",
        "PLAIN": CANARY,
        "EMPTY": "",
    }
    env_file = project / "in.env"
    env_file.write_text(
        "".join(f"{key}={_dotenv_quoted(value)}\n" for key, value in values.items())
    )
    created = floe(project, "secrets", "create", "odd-dev-credentials", "--from-env-file", "in.env")
    assert created.code == 0, created.stderr
    revealed = floe(project, "secrets", "get", "odd-dev-credentials", "--reveal", "--force")
    assert revealed.code == 0, revealed.stderr
    out = project / "revealed.env"
    out.write_text(revealed.stdout)

    script = (
        'set -a; . "$1"; for k in ' + " ".join(values) + '; do eval "v=\\"\\$$k\\""; '
        'printf %s "$v" > "$2/$k"; done'
    )
    dump = tmp_path / "dump"
    dump.mkdir()
    sh = shutil.which("sh")
    assert sh is not None
    subprocess.run(
        [sh, "-c", script, "sh", str(out), str(dump)],
        check=True,
        timeout=30,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"},
    )
    for key, value in values.items():
        assert (dump / key).read_bytes() == value.encode("utf-8"), key
    assert dotenv_values(out) == values
    assert not pwned.exists()  # $(...) and `...` never ran

    # python-dotenv expands ${VAR} whatever the quotes: such a value is refused, none printed.
    rotated = floe(
        project, "secrets", "rotate", "odd-dev-credentials", "--from-literal", "X=${HOME}"
    )
    assert rotated.code == 0, rotated.stderr
    refused = floe(project, "secrets", "get", "odd-dev-credentials", "--reveal", "--force")
    refused.assert_clear_error("The value of key 'X' cannot be printed", "--key X")
    assert refused.stdout == ""


# -- 7. values size-checked while reading ----------------------------------------------------


def test_a_100_mb_value_is_refused_at_the_limit_without_reading_it_all(project: Path) -> None:
    result = floe(project, "secrets", "create", "big-dev-credentials", "--from-stdin", feed_mib=100)
    result.assert_clear_error("stdin holds more than 2162688 bytes", "1 MiB")
    with (project / "big.env").open("wb") as f:  # 100 MB file: reading stops at the limit
        f.write(b"BIG=")
        f.truncate(100 * 1024 * 1024)
    floe(
        project, "secrets", "create", "big-dev-credentials", "--from-env-file", "big.env"
    ).assert_clear_error("big.env holds more than 2162688 bytes")
    assert "big-dev-credentials" not in floe(project, "secrets", "list").stdout

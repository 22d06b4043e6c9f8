"""Pinned JVM and Go artifacts, fetched once into the download cache.

The pins live where their own tools expect them: Maven coordinates in
`infra/maven/pom.xml`, the S3 server's Go module in `infra/go/go.mod` (+ `go.sum`).
This module reads those files, so a path here always names exactly the pinned version.

    python -m spark_jobs.common.artifacts spark-jars   # what `make setup` runs
    python -m spark_jobs.common.artifacts trino s3-server

Cache folder: `$LAKEHOUSE_CACHE`, default `~/.cache/lakehouse`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from spark_jobs.settings import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
POM = PROJECT_ROOT / "infra" / "maven" / "pom.xml"
GO_MODULE = PROJECT_ROOT / "infra" / "go"
_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def cache_dir() -> Path:
    """Where downloads live (shared by every clone of the project on this machine)."""
    return Path(os.environ.get("LAKEHOUSE_CACHE") or "~/.cache/lakehouse").expanduser()


@dataclass(frozen=True)
class Artifact:
    """One artifact of an execution of the pom (a `<artifactItem>`)."""

    group_id: str
    artifact_id: str
    version: str
    type: str = "jar"
    classifier: str | None = None
    folder: Path = Path()

    @property
    def file_name(self) -> str:
        classifier = f"-{self.classifier}" if self.classifier else ""
        return f"{self.artifact_id}-{self.version}{classifier}.{self.type}"

    @property
    def path(self) -> Path:
        return self.folder / self.file_name


def _properties(root: ET.Element) -> dict[str, str]:
    props = {"user.home": str(Path.home()), "lakehouse.cache": str(cache_dir())}
    for node in root.find("m:properties", _NS) or []:
        name = node.tag.split("}", 1)[1]
        if name != "lakehouse.cache":  # the cache folder is ours to choose (LAKEHOUSE_CACHE)
            props[name] = (node.text or "").strip()
    return props


def _expand(text: str, props: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: _expand(props[m.group(1)], props), text)


def maven_artifacts(execution: str) -> list[Artifact]:
    """The artifacts of one pom execution (`spark-jars` or `trino`), versions resolved."""
    root = ET.parse(POM).getroot()
    props = _properties(root)
    for ex in root.iterfind(".//m:execution", _NS):
        if ex.findtext("m:id", namespaces=_NS) != execution:
            continue
        folder = Path(_expand(ex.findtext(".//m:outputDirectory", namespaces=_NS) or "", props))
        items = []
        for item in ex.iterfind(".//m:artifactItem", _NS):

            def field(name: str, item: ET.Element = item) -> str | None:
                value = item.findtext(f"m:{name}", namespaces=_NS)
                return _expand(value.strip(), props) if value else None

            items.append(
                Artifact(
                    group_id=field("groupId") or "",
                    artifact_id=field("artifactId") or "",
                    version=field("version") or "",
                    type=field("type") or "jar",
                    classifier=field("classifier"),
                    folder=folder,
                )
            )
        return items
    raise KeyError(f"no execution {execution!r} in {POM}")


def maven_artifact(execution: str, artifact_id: str) -> Artifact:
    """One artifact of an execution by its artifactId."""
    for artifact in maven_artifacts(execution):
        if artifact.artifact_id == artifact_id:
            return artifact
    raise KeyError(f"{artifact_id} is not pinned in execution {execution!r} of {POM}")


def missing(execution: str) -> list[Artifact]:
    return [a for a in maven_artifacts(execution) if not a.path.exists()]


def _first_error(output: str) -> str:
    # Maven's first [ERROR] line names the artifact and the cause; the rest is boilerplate.
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in output.splitlines()]
    errors = [line for line in lines if "[ERROR]" in line and line.strip() != "[ERROR]"]
    return (errors or lines or ["no output"])[0].strip()


def fetch_maven(execution: str, echo=print) -> list[Artifact]:
    """Copy an execution's artifacts into the cache with Maven (no-op when all are there)."""
    todo = missing(execution)
    if not todo:
        return maven_artifacts(execution)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SettingsError(
            "Maven (`mvn`) is needed once to download the pinned jars: "
            "`apt-get install -y maven`, then `make setup`"
        )
    names = ", ".join(a.file_name for a in todo)
    echo(f"downloading {names} into {todo[0].folder} (once)")
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM),
        f"-Dlakehouse.cache={cache_dir()}",
        f"dependency:copy@{execution}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    still = missing(execution)
    if proc.returncode != 0 or still:
        raise SettingsError(
            f"could not download {', '.join(a.file_name for a in still or todo)} with Maven "
            f"(exit {proc.returncode}): {_first_error(proc.stdout + proc.stderr)}. "
            "Check the network or the Maven "
            f"settings (~/.m2/settings.xml), then rerun `make setup`"
        )
    return maven_artifacts(execution)


def go_tool_version(module_path: str) -> str:
    """The version of a Go tool pinned in infra/go/go.mod."""
    text = (GO_MODULE / "go.mod").read_text()
    root = module_path.split("/cmd/")[0]
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(root)}\s+(v\S+)", text, re.MULTILINE)
    if not match:
        raise KeyError(f"{root} is not pinned in {GO_MODULE / 'go.mod'}")
    return match.group(1)


def fetch_go_tool(package: str, echo=print) -> Path:
    """Build a Go tool of infra/go/go.mod (checksums from go.sum) into the cache; its path."""
    version = go_tool_version(package)
    name = package.rsplit("/", 1)[-1]
    target = cache_dir() / "bin" / f"{name}-{version}"
    if target.exists():
        return target
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        raise SettingsError(
            f"Go is needed once to build {name} {version}: install Go 1.24+ "
            "(`apt-get install -y golang` on Debian 13, or go.dev), then rerun"
        )
    build_dir = cache_dir() / "bin" / f".build-{name}"
    build_dir.mkdir(parents=True, exist_ok=True)
    echo(f"building {name} {version} with Go (once; a few minutes)")
    env = {**os.environ, "GOBIN": str(build_dir), "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"}
    proc = subprocess.run(
        [go, "install", package],
        cwd=GO_MODULE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    built = build_dir / name
    if proc.returncode != 0 or not built.exists():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise SettingsError(
            f"could not build {package}@{version} (exit {proc.returncode}): {' / '.join(tail)}"
        )
    built.replace(target)  # atomic: a half-built binary is never at `target`
    return target


def main(argv: list[str] | None = None) -> int:
    """`python -m spark_jobs.common.artifacts spark-jars|trino|s3-server ...`."""
    from spark_jobs.stack.services import S3_SERVER_PACKAGE

    names = (sys.argv[1:] if argv is None else argv) or ["spark-jars"]
    try:
        for name in names:
            if name == "s3-server":
                print(fetch_go_tool(S3_SERVER_PACKAGE))
            else:
                for artifact in fetch_maven(name):
                    print(artifact.path)
    except (SettingsError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

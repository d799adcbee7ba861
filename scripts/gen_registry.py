#!/usr/bin/env python3
"""Generates the registry ampora-tool ships: Sources/Toolkit/Registry/BuiltinRegistry.swift (component facts)
and Sources/Toolkit/Registry/BuiltinDistributions.swift (which modules each official distribution holds, by
release, and the core components' type names by release).

Inputs, all in the repository so regeneration needs no network:
  scripts/data/components.tsv     kind, type, stability, note (the v0.158 registry snapshot, with renames)
  scripts/data/distributions.tsv  distribution, kind, module, first minor, last minor (from the manifests)
  scripts/data/core_types.tsv     kind, module, type, first minor (from the core components' metadata.yaml)
  scripts/data/vendor/*.tsv       components.tsv-shaped lists of vendor distributions' own types

    python3 scripts/gen_registry.py
    # refresh the two manifest-derived tables from local git clones, then regenerate:
    python3 scripts/gen_registry.py --releases PATH/opentelemetry-collector-releases \\
        --core PATH/opentelemetry-collector
"""
import argparse
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "scripts" / "data"
OUT = ROOT / "Sources" / "Toolkit" / "Registry"
KINDS = {"receivers": "receiver", "exporters": "exporter", "processors": "processor",
         "extensions": "extension", "connectors": "connector"}
DISTRIBUTIONS = {"otelcol": "core", "otelcol-contrib": "contrib", "otelcol-k8s": "k8s", "otelcol-otlp": "otlp"}
FIRST_MINOR = 80  # manifests before v0.80 are not imported


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False).stdout


def release_tags(repo):
    """The first tag of each minor release (v0.X.0, or the lowest patch when .0 was not tagged)."""
    tags = {}
    for tag in git(repo, "tag").split():
        match = re.fullmatch(r"v0\.(\d+)\.(\d+)", tag)
        if match and int(match.group(1)) >= FIRST_MINOR:
            minor, patch = int(match.group(1)), int(match.group(2))
            if minor not in tags or patch < tags[minor][1]:
                tags[minor] = (tag, patch)
    return {minor: tag for minor, (tag, _) in sorted(tags.items())}


def manifest_modules(text):
    """(kind, module basename) for every component listed in a builder manifest."""
    kind = None
    for line in text.splitlines():
        header = re.match(r"^([a-z]+):", line)
        if header:
            kind = KINDS.get(header.group(1))
            continue
        entry = re.match(r"^\s*-\s*gomod:\s*(\S+)", line)
        if kind and entry:
            yield kind, entry.group(1).rstrip("/").rsplit("/", 1)[-1]


def ranges(presence):
    """Sorted minors -> contiguous (first, last) runs over the imported releases."""
    runs = []
    for minor in sorted(presence):
        if runs and presence_gap(runs[-1][1], minor):
            runs.append([minor, minor])
        elif runs:
            runs[-1][1] = minor
        else:
            runs.append([minor, minor])
    return runs


RELEASED = []


def presence_gap(last, minor):
    between = [m for m in RELEASED if last < m < minor]
    return bool(between)


def import_releases(repo):
    tags = release_tags(repo)
    RELEASED.extend(tags)
    present = {}
    for minor, tag in tags.items():
        for directory, name in DISTRIBUTIONS.items():
            text = git(repo, "show", f"{tag}:distributions/{directory}/manifest.yaml")
            for kind, module in manifest_modules(text):
                present.setdefault((name, kind, module), set()).add(minor)
    lines = ["distribution\tkind\tmodule\tfirst\tlast"]
    lines.append(f"# releases imported: {' '.join(f'v0.{m}' for m in tags)}")
    for (name, kind, module), minors in sorted(present.items()):
        for first, last in ranges(minors):
            lines.append(f"{name}\t{kind}\t{module}\t{first}\t{last}")
    (DATA / "distributions.tsv").write_text("\n".join(lines) + "\n")
    print(f"wrote scripts/data/distributions.tsv: {len(lines) - 2} ranges over {len(tags)} releases")


def import_core(repo):
    history = []
    for minor, tag in release_tags(repo).items():
        for path in git(repo, "ls-tree", "-r", "--name-only", tag).split():
            match = re.fullmatch(r"(receiver|exporter|processor|extension|connector)/([a-z]+)/metadata\.yaml", path)
            if not match:
                continue
            type_ = re.search(r"^type:\s*(\S+)", git(repo, "show", f"{tag}:{path}"), re.M)
            if type_:
                history.append((match.group(1), match.group(2), type_.group(1), minor))
    lines = ["kind\tmodule\ttype\tfirst"]
    last = {}
    for kind, module, type_, minor in sorted(history, key=lambda h: (h[0], h[1], h[3])):
        if last.get((kind, module)) != type_:
            lines.append(f"{kind}\t{module}\t{type_}\t{minor}")
            last[(kind, module)] = type_
    (DATA / "core_types.tsv").write_text("\n".join(lines) + "\n")
    print(f"wrote scripts/data/core_types.tsv: {len(lines) - 1} rows")


def swift_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_rows(path, width):
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if number == 1 or not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < width:
            sys.exit(f"{path}:{number}: expected {width} tab-separated fields")
        rows.append(fields + [""] * (4 - len(fields)) if width == 3 else fields[:width])
    return rows


def write_registry():
    rows = sorted(read_rows(DATA / "components.tsv", 3), key=lambda r: (r[0], r[1]))
    lines = [
        "// Generated by scripts/gen_registry.py from scripts/data/components.tsv; do not edit by hand.",
        "// swift-format-ignore-file",
        "",
        "extension ComponentRegistry {",
        "    /// The component facts that ship with the tool (contrib v0.158 snapshot plus the 2026 renames).",
        "    public static let builtinRows: [RegistryRow] = [",
    ]
    for kind, type_, stability, note in rows:
        lines.append(
            f"        RegistryRow(kind: {swift_string(kind)}, type: {swift_string(type_)}, "
            f"stability: {swift_string(stability)}, note: {swift_string(note)}),"
        )
    lines += ["    ]", "}", ""]
    (OUT / "BuiltinRegistry.swift").write_text("\n".join(lines))
    print(f"wrote Sources/Toolkit/Registry/BuiltinRegistry.swift: {len(rows)} rows")


def write_distributions():
    text = (DATA / "distributions.tsv").read_text()
    releases = re.search(r"^# releases imported: (.*)$", text, re.M).group(1).split()
    ranges_ = read_rows(DATA / "distributions.tsv", 5)
    core = read_rows(DATA / "core_types.tsv", 4)
    vendors = {}
    for path in sorted((DATA / "vendor").glob("*.tsv")):
        vendors[path.stem] = [r for r in read_rows(path, 3)]
    minors = [int(r.split(".")[1]) for r in releases]
    lines = [
        "// Generated by scripts/gen_registry.py from scripts/data/distributions.tsv, core_types.tsv and vendor/;",
        "// do not edit by hand.",
        "// swift-format-ignore-file",
        "",
        "extension DistributionData {",
        f"    /// Minor releases whose manifests were imported (v0.{minors[0]} to v0.{minors[-1]}).",
        f"    static let releases: [Int] = [{', '.join(str(m) for m in minors)}]",
        "    /// distribution, kind, module, first minor, last minor: when a module was in an official distribution.",
        "    static let ranges: [(String, String, String, Int, Int)] = [",
    ]
    for name, kind, module, first, last in ranges_:
        lines.append(f"        ({swift_string(name)}, {swift_string(kind)}, {swift_string(module)}, {first}, {last}),")
    lines += [
        "    ]",
        "    /// kind, module, type, first minor: the type name of each core component from a release on.",
        "    static let coreTypes: [(String, String, String, Int)] = [",
    ]
    for kind, module, type_, first in core:
        lines.append(f"        ({swift_string(kind)}, {swift_string(module)}, {swift_string(type_)}, {first}),")
    lines += ["    ]", "    /// Vendor distributions' own component types, added to contrib's.",
              "    static let vendors: [String: [RegistryRow]] = ["]
    for name, rows in vendors.items():
        lines.append(f"        {swift_string(name)}: [")
        for kind, type_, stability, note in rows:
            lines.append(
                f"            RegistryRow(kind: {swift_string(kind)}, type: {swift_string(type_)}, "
                f"stability: {swift_string(stability)}, note: {swift_string(note)}),"
            )
        lines.append("        ],")
    if not vendors:
        lines[-1] = "    static let vendors: [String: [RegistryRow]] = [:]"
        lines += ["}", ""]
    else:
        lines += ["    ]", "}", ""]
    (OUT / "BuiltinDistributions.swift").write_text("\n".join(lines))
    print(f"wrote Sources/Toolkit/Registry/BuiltinDistributions.swift: {len(ranges_)} ranges, {len(vendors)} vendors")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--releases", help="git clone of opentelemetry-collector-releases (imports the manifests)")
    parser.add_argument("--core", help="git clone of opentelemetry-collector (imports core type names by release)")
    args = parser.parse_args()
    if args.releases:
        import_releases(pathlib.Path(args.releases))
    if args.core:
        import_core(pathlib.Path(args.core))
    write_registry()
    write_distributions()


if __name__ == "__main__":
    main()

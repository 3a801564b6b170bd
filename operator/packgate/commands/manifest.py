"""`packgate manifest DIR`: the ConfigMap and the Pack for a pack directory, as YAML for `kubectl apply -f -`.

Owns: the command's arguments and the rendering of the two objects.  Must not: talk to a cluster
or import kopf or the Kubernetes client; the translation itself lives in `packgate.packfile`.
"""

from __future__ import annotations

import argparse
from typing import Any

from packgate.commands import COMMANDS

HELP = COMMANDS["manifest"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="the pack directory (holds pack.yaml)")
    parser.add_argument("--namespace", "-n", metavar="NS", help="namespace of both objects (default: unset)")
    parser.add_argument("--name", metavar="NAME", help="the Pack's name (default: the pack ref as a DNS name)")
    parser.add_argument("--image-shell", metavar="IMG", help="image of script, tap and command runners")
    parser.add_argument("--image-python", metavar="IMG", help="image of unittest runners")
    parser.add_argument("--image-pytest", metavar="IMG", help="image of pytest runners")
    parser.add_argument("--image-node", metavar="IMG", help="image of node runners")


def default_images() -> dict[str, str]:
    """The operator's default runner images (Settings' field defaults; the environment is not read)."""
    from packgate.api.spec import IMAGE_NAMES
    from packgate.settings import Settings

    fields = Settings.model_fields
    return {name: str(fields[f"image_{name}"].default) for name in IMAGE_NAMES}


def render(
    directory: str,
    *,
    name: str | None,
    namespace: str | None,
    images: dict[str, str],
) -> list[dict[str, Any]]:
    """The ConfigMap and the Pack for a pack directory (validated as the operator would)."""
    from packgate.api.spec import GROUP, KIND, VERSION, load_spec
    from packgate.errors import InvalidPack
    from packgate.packfile import (
        PATHS_ANNOTATION,
        config_map_for,
        dns_name,
        is_dns_label,
        load_packfile,
        paths_annotation,
        to_pack_spec,
    )

    packfile = load_packfile(directory)
    if name is not None and not is_dns_label(name):
        raise InvalidPack(f"--name {name!r} must be a DNS label (lower-case letters, digits and '-')")
    pack_name = name or dns_name(packfile.ref)
    config_map_name = f"{pack_name}-pack"
    spec = to_pack_spec(packfile, images=images, config_map_name=config_map_name)
    load_spec(spec)  # the operator's own validation: never print a Pack it would reject
    if any(d["name"] == pack_name for d in spec.get("dependsOn", [])):  # as the CRD's rule does
        raise InvalidPack(f"pack.yaml: depends_on names the pack itself (Pack {pack_name})")
    data, binary_data, paths = config_map_for(directory)

    labels = {"app.kubernetes.io/managed-by": "packgate", f"{GROUP}/pack": pack_name}
    where = {"namespace": namespace} if namespace else {}
    cm_meta: dict[str, Any] = {
        "name": config_map_name,
        **where,
        "labels": labels,
        "annotations": {PATHS_ANNOTATION: paths_annotation(paths)},
    }
    pack_meta: dict[str, Any] = {"name": pack_name, **where}
    config_map: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": cm_meta}
    if data:
        config_map["data"] = data
    if binary_data:
        config_map["binaryData"] = binary_data
    pack = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": pack_meta, "spec": spec}
    return [config_map, pack]


def dump(documents: list[dict[str, Any]]) -> str:
    """A YAML stream; multi-line strings (the pack's files) as literal blocks where YAML allows."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    return yaml.dump_all(
        documents, Dumper=_Dumper, explicit_start=True, sort_keys=False, allow_unicode=True, width=1000
    )


def run(args: argparse.Namespace) -> int:
    from packgate.api.spec import IMAGE_NAMES

    images = default_images()
    for name in IMAGE_NAMES:
        override = getattr(args, f"image_{name}")
        if override:
            images[name] = override
    documents = render(args.dir, name=args.name, namespace=args.namespace, images=images)
    print(dump(documents), end="")
    return 0

#!/usr/bin/env python3
"""Checks the Kubernetes manifests against each other and against ckptd itself (run by .ci/run):
the ConfigMap's ckptd.toml passes `ckptd check`; every volumeMount names a volume; the config
is mounted where the container's args look for it; the state directory and every `runs` glob
of the config lie under a mounted volume that is writable.

    python3 deploy/kubernetes/check.py target/debug/ckptd
"""
import pathlib
import subprocess
import sys
import tempfile
import tomllib

import yaml

HERE = pathlib.Path(__file__).resolve().parent


def fail(message):
    print(f"deploy/kubernetes: {message}", file=sys.stderr)
    sys.exit(1)


def under(path, mounts):
    """The mount (path, read_only) that holds `path`, the deepest one."""
    found = [m for m in mounts if path == m[0] or path.startswith(m[0].rstrip("/") + "/")]
    return max(found, key=lambda m: len(m[0]), default=None)


def main():
    ckptd = sys.argv[1] if len(sys.argv) > 1 else "ckptd"
    configmap = yaml.safe_load((HERE / "configmap.yaml").read_text())
    daemonset = yaml.safe_load((HERE / "daemonset.yaml").read_text())
    if configmap.get("kind") != "ConfigMap" or daemonset.get("kind") != "DaemonSet":
        fail("configmap.yaml must hold a ConfigMap and daemonset.yaml a DaemonSet")
    text = configmap["data"]["ckptd.toml"]
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "ckptd.toml"
        path.write_text(text)
        out = subprocess.run([ckptd, "check", "--config", str(path)], capture_output=True, text=True)
        if out.returncode != 0:
            fail(f"the ConfigMap's ckptd.toml does not pass `ckptd check`:\n{out.stderr}")
    config = tomllib.loads(text)
    spec = daemonset["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    if len(volumes) != len(spec["volumes"]):
        fail("volume names must be unique")
    (container,) = spec["containers"]
    mounts = []
    for m in container["volumeMounts"]:
        if m["name"] not in volumes:
            fail(f"volumeMount {m['name']} names no volume")
        mounts.append((m["mountPath"], m.get("readOnly", False), m["name"]))
    args = container["args"]
    config_path = args[args.index("--config") + 1]
    mount = under(config_path, mounts)
    if mount is None or "configMap" not in volumes[mount[2]]:
        fail(f"{config_path} (the args' --config) is not in the ConfigMap's mount")
    if configmap["metadata"]["name"] != volumes[mount[2]]["configMap"]["name"]:
        fail("the config volume does not name the ConfigMap")
    state = config.get("daemon", {}).get("state_dir")
    for what, path in [("state_dir", state)] + [
        (f"runs of watch {w['name']}", glob) for w in config["watch"] for glob in w["runs"]
    ]:
        if path is None:
            continue
        mount = under(path, mounts)
        if mount is None:
            fail(f"{what} ({path}) is on no mounted volume: ckptd would see an empty directory")
        if mount[1]:
            fail(f"{what} ({path}) is on a read-only mount: ckptd could delete nothing")
    if container["securityContext"].get("readOnlyRootFilesystem") is not True:
        fail("the container's root filesystem should be read-only (as ProtectSystem=strict)")
    print("deploy/kubernetes: ok")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""tests/integration/inject_check.py IN OUT [shimfs inject options...]

A second, independent reading of what `shimfs inject` promises, with
PyYAML instead of libyaml's marks: OUT, parsed, must equal IN parsed with the
injection applied here (mapping key order aside), and every document must
still parse. Exits 0 when they match, else prints the first difference.
"""
import argparse
import copy
import re
import sys

import yaml

LIB_VOL, CACHE_VOL, INIT, WARM = "shimfs-lib", "shimfs-cache", "shimfs-init", "shimfs-warmup"
# What shimfs-init runs: the copy, then the cache mount made sticky.
INIT_SCRIPT = """set -e
cp -a "$1"/lib/shimfs/* "$1/bin/shimfs" "$2/"
[ -k "$3" ] || chmod 1777 "$3" || echo "shimfs-init: cannot make $3 sticky (1777) as uid \
$(id -u); the cache folder below it must be usable as it is" >&2
"""
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
             "ReplicationController", "Job"}


def options(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--prefix", default="/mnt/shimfs")
    p.add_argument("--secret", default="shimfs")
    p.add_argument("--image", default="shimfs")
    p.add_argument("--image-prefix", default="/opt/shimfs")
    p.add_argument("--lib-dir", default="/shimfs")
    p.add_argument("--cache-dir", default="/var/cache/shimfs/cache")
    p.add_argument("--cache-size")
    p.add_argument("--cache-host-path")
    p.add_argument("--cache-pvc")
    p.add_argument("--container", action="append", default=[])
    p.add_argument("--warmup", action="append", default=[])
    o = p.parse_args(argv)
    for k in ("prefix", "lib_dir", "cache_dir", "image_prefix", "cache_host_path"):
        if getattr(o, k):
            setattr(o, k, getattr(o, k).rstrip("/") or "/")
    o.lib = o.lib_dir + "/libshimfs.so"
    o.cache_mount = o.cache_dir.rsplit("/", 1)[0]
    return o


def named(items, name):
    return any(isinstance(i, dict) and i.get("name") == name for i in items)


def inject_container(c, o):
    env = c.get("env") or []
    for e in env:
        if e.get("name") == "LD_PRELOAD" and o.lib not in re.split("[: ]", e["value"]):
            e["value"] = o.lib + (":" + e["value"] if e["value"] else "")
    adds = [("LD_PRELOAD", o.lib), ("LD_AUDIT", o.lib_dir + "/libshimfs-audit.so"),
            ("SHIMFS_PREFIX", o.prefix),
            ("SHIMFS_CACHE_DIR", o.cache_dir)]
    if o.cache_size:
        adds.append(("SHIMFS_CACHE_SIZE", o.cache_size))
    c["env"] = env + [{"name": n, "value": v} for n, v in adds if not named(env, n)]
    env_from = c.get("envFrom") or []
    if not any((i.get("secretRef") or {}).get("name") == o.secret for i in env_from):
        env_from = env_from + [{"secretRef": {"name": o.secret}}]
    c["envFrom"] = env_from
    mounts = c.get("volumeMounts") or []
    for name, path in ((LIB_VOL, o.lib_dir), (CACHE_VOL, o.cache_mount)):
        if not any(m.get("name") == name or m.get("mountPath") == path for m in mounts):
            mounts = mounts + [{"name": name, "mountPath": path}]
    c["volumeMounts"] = mounts


def inject_pod(spec, o):
    chosen = [c for c in spec["containers"]
              if not o.container or c.get("name") in o.container]
    if not chosen:
        return
    for c in chosen:
        inject_container(c, o)
    init = spec.get("initContainers") or []
    if not named(init, INIT):
        init = [{"name": INIT, "image": o.image,
                 "command": ["sh", "-c", INIT_SCRIPT, INIT, o.image_prefix, o.lib_dir,
                             o.cache_mount],
                 "volumeMounts": [{"name": LIB_VOL, "mountPath": o.lib_dir},
                                  {"name": CACHE_VOL, "mountPath": o.cache_mount}]}] + init
    if o.warmup and not named(init, WARM):
        env = [{"name": "SHIMFS_CACHE_DIR", "value": o.cache_dir}]
        if o.cache_size:
            env.append({"name": "SHIMFS_CACHE_SIZE", "value": o.cache_size})
        init = init + [{"name": WARM, "image": o.image,
                        "command": [o.image_prefix + "/bin/shimfs", "warmup"] + o.warmup,
                        "env": env, "envFrom": [{"secretRef": {"name": o.secret}}],
                        "volumeMounts": [{"name": CACHE_VOL, "mountPath": o.cache_mount}]}]
    spec["initContainers"] = init
    vols = spec.get("volumes") or []
    if not named(vols, LIB_VOL):
        vols = vols + [{"name": LIB_VOL, "emptyDir": {}}]
    if not named(vols, CACHE_VOL):
        if o.cache_host_path:
            src = {"hostPath": {"path": o.cache_host_path, "type": "DirectoryOrCreate"}}
        elif o.cache_pvc:
            src = {"persistentVolumeClaim": {"claimName": o.cache_pvc}}
        else:
            src = {"emptyDir": {}}
        vols = vols + [dict({"name": CACHE_VOL}, **src)]
    spec["volumes"] = vols


def inject_doc(doc, o):
    if not isinstance(doc, dict) or "kind" not in doc:
        return
    kind = doc["kind"]
    if kind == "Pod":
        inject_pod(doc["spec"], o)
    elif kind == "PodTemplate":
        inject_pod(doc["template"]["spec"], o)
    elif kind in WORKLOADS:
        inject_pod(doc["spec"]["template"]["spec"], o)
    elif kind == "CronJob":
        inject_pod(doc["spec"]["jobTemplate"]["spec"]["template"]["spec"], o)
    elif kind.endswith("List") and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            inject_doc(item, o)
    elif isinstance(doc.get("spec"), dict):
        for key, roles in doc["spec"].items():
            if key.endswith("ReplicaSpecs") and isinstance(roles, dict):
                for role in roles.values():
                    inject_pod(role["template"]["spec"], o)


def main():
    with open(sys.argv[1], "rb") as f:
        docs_in = list(yaml.safe_load_all(f))
    with open(sys.argv[2], "rb") as f:
        docs_out = list(yaml.safe_load_all(f))
    o = options(sys.argv[3:])
    expected = copy.deepcopy(docs_in)
    for d in expected:
        inject_doc(d, o)
    if len(expected) != len(docs_out):
        print(f"{len(docs_out)} documents out, {len(docs_in)} in")
        return 1
    for i, (want, got) in enumerate(zip(expected, docs_out)):
        if want != got:
            print(f"document {i + 1} differs:\n  expected {want}\n  got      {got}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

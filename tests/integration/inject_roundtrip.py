#!/usr/bin/env python3
"""tests/integration/inject_roundtrip.py SHIMFS N: N random block-style
manifest streams (seeds 1..N, so a failure is reproducible) through
`SHIMFS inject`: each must succeed, parse to its input with the injection
applied (inject_check.py's independent reading) and come out of a second run
unchanged. Varies kinds, indentation (2 or 4, lists indented or not),
comments, quoting, flow-style env items, existing LD_PRELOAD and SHIMFS_*,
empty and null lists, block scalars ending a container, several documents,
a missing final line break and CRLF. Prints one line per failure; exit 1 on
any.
"""
import os
import random
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import inject_check  # noqa: E402

r = random.Random()


def comment():
    return r.choice(["", "", "", "  # c", "   # données"])


def scalar(v):
    return r.choice([v, '"%s"' % v, "'%s'" % v])


def seq_lines(ind, dash_off, items):
    """items: list of list-of-(relkey, text) lines for mappings."""
    out = []
    for it in items:
        first = True
        for rel, text in it:
            if first:
                out.append(" " * (ind + dash_off) + "- " + text)
                first = False
            else:
                out.append(" " * (ind + dash_off + 2 + rel) + text)
    return out


def env_item(name, value):
    if r.random() < 0.2:
        return [(0, "{ name: %s, value: %s }" % (name, scalar(value)))]
    return [(0, "name: " + name + comment()), (0, "value: " + scalar(value))]


def container(i, step, dash):
    lines = [(0, "name: c%d%s" % (i, comment())), (0, "image: img:%d" % i)]
    keys = []
    if r.random() < 0.5:
        envs = []
        if r.random() < 0.5:
            envs.append(env_item("LD_PRELOAD", r.choice(["/usr/lib/libx.so", "/a.so:/b.so", "/shimfs/libshimfs.so"])))
        if r.random() < 0.3:
            envs.append(env_item("SHIMFS_PREFIX", "/own"))
        envs.append(env_item("OTHER", "v"))
        keys.append(("env", envs))
    if r.random() < 0.3:
        keys.append(("volumeMounts", [[(0, "name: data"), (0, "mountPath: /data")]]))
    if r.random() < 0.2:
        keys.append(("envFrom", [[(0, "configMapRef:"), (step, "name: cm")]]))
    r.shuffle(keys)
    for k, items in keys:
        if r.random() < 0.1:
            lines.append((0, k + ": []" + comment()))
            continue
        lines.append((0, k + ":" + comment()))
        for it in items:
            first = True
            for rel, text in it:
                lines.append((dash + (0 if first else 2) + rel, ("- " if first else "") + text))
                first = False
    if r.random() < 0.3:
        lines.append((0, "command:"))
        lines.append((step, "- |"))
        lines.append((step + 4, "echo hi"))
        if r.random() < 0.5:
            lines.append((0, ""))
    elif r.random() < 0.3:
        lines.append((0, "args: [a, b]" + comment()))
    if r.random() < 0.2:
        lines.append((0, "# trailing comment in container"))
    return lines


def podspec(ind, step):
    dash = r.choice([0, 2])
    out = []
    keys = ["containers"]
    if r.random() < 0.4:
        keys.append("initContainers")
    if r.random() < 0.4:
        keys.append("volumes")
    if r.random() < 0.5:
        keys.append("restartPolicy")
    r.shuffle(keys)
    for k in keys:
        if k == "restartPolicy":
            out.append(" " * ind + "restartPolicy: Never" + comment())
        elif k == "volumes":
            if r.random() < 0.2:
                out.append(" " * ind + "volumes:" + comment())
            else:
                out.append(" " * ind + "volumes:")
                out.append(" " * (ind + dash) + "- name: data")
                out.append(" " * (ind + dash + 2) + "emptyDir: {}")
        elif k == "initContainers":
            out.append(" " * ind + "initContainers:")
            out.append(" " * (ind + dash) + "- name: first")
            out.append(" " * (ind + dash + 2) + "image: busybox")
        else:
            out.append(" " * ind + "containers:" + comment())
            for i in range(r.randint(1, 3)):
                first = True
                for rel, text in container(i, step, dash):
                    if first:
                        out.append(" " * (ind + dash) + "- " + text)
                        first = False
                    elif text == "":
                        out.append("")
                    else:
                        out.append(" " * (ind + dash + 2 + rel) + text)
        if r.random() < 0.2:
            out.append(" " * ind + "# comment after " + k)
    return out


def doc():
    step = r.choice([2, 4])
    kind = r.choice(["Pod", "Job", "Deployment", "CronJob", "ConfigMap", "PyTorchJob"])
    out = ["apiVersion: v1", "kind: " + kind, "metadata:", " " * step + "name: x" + comment()]
    if kind == "Pod":
        out.append("spec:")
        out += podspec(step, step)
    elif kind in ("Job", "Deployment"):
        out += ["spec:", " " * step + "template:", " " * 2 * step + "spec:"]
        out += podspec(3 * step, step)
    elif kind == "CronJob":
        out += ["spec:", " " * step + "jobTemplate:", " " * 2 * step + "spec:",
                " " * 3 * step + "template:", " " * 4 * step + "spec:"]
        out += podspec(5 * step, step)
    elif kind == "PyTorchJob":
        out += ["spec:", " " * step + "pytorchReplicaSpecs:"]
        for role in ("Master", "Worker"):
            out += [" " * 2 * step + role + ":", " " * 3 * step + "template:",
                    " " * 4 * step + "spec:"]
            out += podspec(5 * step, step)
    else:
        out += ["data:", " " * step + "a: |", " " * 2 * step + "containers: []"]
    return out




def stream(seed):
    r.seed(seed)
    text = "\n---\n".join("\n".join(doc()) for _ in range(r.randint(1, 3)))
    # A block scalar may not end the input without a line break (refused).
    if r.random() < 0.8 or text.rstrip().endswith("echo hi"):
        text += "\n"
    if r.random() < 0.1:
        text = text.replace("\n", "\r\n")
    return text


def run(shimfs, data):
    p = subprocess.run([shimfs, "inject"], input=data, capture_output=True, check=False)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace").strip()


def main():
    shimfs, n = sys.argv[1], int(sys.argv[2])
    opts = inject_check.options([])
    bad = 0
    for seed in range(1, n + 1):
        data = stream(seed).encode()
        rc, out, err = run(shimfs, data)
        if rc != 0 or err:
            print(f"seed {seed}: exit {rc}: {err}")
            bad += 1
            continue
        rc, again, err = run(shimfs, out)
        if rc != 0 or again != out:
            print(f"seed {seed}: a second run changed the output (exit {rc} {err})")
            bad += 1
            continue
        want = list(yaml.safe_load_all(data))
        for d in want:
            inject_check.inject_doc(d, opts)
        if want != list(yaml.safe_load_all(out)):
            print(f"seed {seed}: the output does not parse to the injected input")
            bad += 1
    print(f"{n - bad} of {n} random streams round-tripped")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""prom_check.py - a strict reader of the Prometheus text exposition format
(0.0.4) for the metrics tests: exits 1 with the first fault, else prints
the samples as one JSON object {name: value}.

Checked: every line is a HELP, a TYPE, a comment, a blank line or a sample;
names are valid and start with the prefix given (argv[1]); each metric has
exactly one HELP and one TYPE, both before its samples; its samples are
together; TYPE is counter, gauge or histogram; counters end in _total (and
only they do); a histogram's samples are NAME_bucket{le="..."} with bounds
ascending and counts never decreasing, ending with le="+Inf" equal to
NAME_count, and NAME_sum; no sample repeats; values are numbers (finite,
not negative for counters and histograms); a file ends with a newline."""
import json
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( -?[0-9]+)?\Z")


def fault(n, msg):
    sys.exit("line %d: %s" % (n, msg))


def main():
    prefix = sys.argv[1] if len(sys.argv) > 1 else "shimfs_"
    text = sys.stdin.read()
    if not text:
        sys.exit("empty exposition")
    if not text.endswith("\n"):
        sys.exit("the text does not end with a newline")
    helps, types, samples, done, hists = {}, {}, {}, set(), {}
    current = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not parts[3]:
                fault(n, "HELP/TYPE without a name and text: %r" % line)
            kind, name, rest = parts[1], parts[2], parts[3]
            if not NAME.match(name) or not name.startswith(prefix):
                fault(n, "bad metric name %r" % name)
            seen = helps if kind == "HELP" else types
            if name in seen:
                fault(n, "second %s for %s" % (kind, name))
            if name in samples:
                fault(n, "%s for %s after its samples" % (kind, name))
            if kind == "TYPE":
                if rest not in ("counter", "gauge", "histogram"):
                    fault(n, "type %r of %s" % (rest, name))
                if (rest == "counter") != name.endswith("_total"):
                    fault(n, "%s: counters and only counters end in _total" % name)
            seen[name] = rest
            if current is not None and current != name:
                done.add(current)
            current = name
        elif line.startswith("#") or line == "":
            continue
        else:
            m = SAMPLE.match(line)
            if not m:
                fault(n, "not a sample: %r" % line)
            name, labels, value = m.group(1), m.group(2) or "", m.group(3)
            sample_name = name
            for suffix in ("_bucket", "_sum", "_count"):
                base = name[: -len(suffix)]
                if name.endswith(suffix) and types.get(base) == "histogram":
                    name = base
                    break
            if types.get(name) == "histogram":
                hist = hists.setdefault(name, {"le": [], "sum": None, "count": None})
                if sample_name == name + "_bucket":
                    lm = re.fullmatch(r'\{le="([^"]+)"\}', labels)
                    if not lm:
                        fault(n, "bucket of %s without one le label: %r" % (name, labels))
                    hist["le"].append((float(lm.group(1)), float(value), n))
                elif sample_name == name + "_sum":
                    hist["sum"] = float(value)
                elif sample_name == name + "_count":
                    hist["count"] = float(value)
                else:
                    fault(n, "sample %s of histogram %s" % (sample_name, name))
            elif labels:
                fault(n, "labels on %s" % name)
            if name not in helps or name not in types:
                fault(n, "sample of %s without HELP and TYPE before it" % name)
            if name in done or (current is not None and current != name):
                fault(n, "samples of %s are not together" % name)
            try:
                v = float(value)
            except ValueError:
                fault(n, "value %r of %s is not a number" % (value, name))
            if not math.isfinite(v):
                fault(n, "value of %s is not finite" % name)
            if types[name] in ("counter", "histogram") and v < 0:
                fault(n, "%s %s is negative" % (types[name], name))
            key = sample_name + labels
            if key in samples:
                fault(n, "sample %s repeated" % key)
            samples[key] = v
            current = name
    for name, h in hists.items():
        les = h["le"]
        if not les or les[-1][0] != math.inf:
            sys.exit("histogram %s does not end with le=\"+Inf\"" % name)
        for (b0, c0, _), (b1, c1, n) in zip(les, les[1:]):
            if b1 <= b0 or c1 < c0:
                fault(n, "histogram %s: buckets not ascending or counts decreasing" % name)
        if h["sum"] is None or h["count"] is None:
            sys.exit("histogram %s without _sum or _count" % name)
        if h["count"] != les[-1][1]:
            sys.exit("histogram %s: +Inf bucket %g != count %g" % (name, les[-1][1], h["count"]))
        samples[name] = h["count"]
    for name in helps.keys() | types.keys():
        if name not in samples:
            sys.exit("%s has HELP/TYPE but no sample" % name)
    json.dump(samples, sys.stdout, sort_keys=True)
    print()


main()

#!/usr/bin/env bash
# tests/integration/test_cli_inject.sh — `shimfs inject` against golden files
# (tests/integration/inject/NAME.in.yaml -> NAME.out.yaml, options in
# NAME.args): the exact bytes out, nothing on stderr, a second run over the
# output changes nothing, the input's lines all survive except the ones the
# case names in NAME.changed, and, when PyYAML is installed, the output
# parses to the input with the injection applied by an independent reading
# (inject_check.py), as must 60 seeded random streams (inject_roundtrip.py).
# Then every refusal (inject/errors/*.yaml, bad options):
# exit status, one line on stderr, nothing on stdout. Needs no services.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CLI=$SHIMFS_CLI
DIR=$TEST_ROOT/tests/integration/inject
OUT=$TEST_SCRATCH/out.yaml
AGAIN=$TEST_SCRATCH/again.yaml
ERR=$TEST_SCRATCH/stderr
HAVE_PYYAML=0
python3 -c 'import yaml' 2>/dev/null && HAVE_PYYAML=1

# inject CASE_ARGS < IN > OUT, recording the status in $rc.
inject() {
    local in=$1 out=$2; shift 2
    rc=0
    "$CLI" inject "$@" < "$in" > "$out" 2> "$ERR" || rc=$?
}

golden() {
    local name=$1 in=$DIR/$1.in.yaml want=$DIR/$1.out.yaml args=() changed=0 lost
    [ -f "$DIR/$name.args" ] && read -r -a args < "$DIR/$name.args"
    [ -f "$DIR/$name.changed" ] && changed=$(cat "$DIR/$name.changed")

    inject "$in" "$OUT" "${args[@]}"
    if [ "$rc" -ne 0 ] || [ -s "$ERR" ]; then
        fail "$name: exit $rc: $(head -c 400 "$ERR")"
        return
    fi
    assert_files_equal "$want" "$OUT" "$name: output is the golden file"
    lost=$(diff "$in" "$OUT" | grep -c '^<' || true)
    assert_eq "$changed" "$lost" "$name: input lines changed in place"
    inject "$OUT" "$AGAIN" "${args[@]}"
    if [ "$rc" -eq 0 ] && cmp -s "$OUT" "$AGAIN"; then
        pass "$name: a second run changes nothing"
    else
        fail "$name: a second run (exit $rc) changed the output: $(diff "$OUT" "$AGAIN" | head -n 10)"
    fi
    if [ "$HAVE_PYYAML" -eq 1 ]; then
        check "$name: parses to the input with the injection applied" \
            python3 "$TEST_ROOT/tests/integration/inject_check.py" "$in" "$OUT" "${args[@]}"
    fi
}

# refuse CODE REGEX WHAT ARGS... < input: exit CODE, one matching line on
# stderr, nothing on stdout.
refuse() {
    local code=$1 pattern=$2 what=$3 in=$4; shift 4
    inject "$in" "$OUT" "$@"
    if [ "$rc" -ne "$code" ]; then
        fail "$what: exit $rc, expected $code: $(head -c 400 "$ERR")"
    elif [ -s "$OUT" ]; then
        fail "$what: wrote $(wc -c < "$OUT") bytes to stdout"
    elif [ "$(wc -l < "$ERR")" -ne 1 ] || ! grep -qE -- "$pattern" "$ERR"; then
        fail "$what: stderr '$(cat "$ERR")' is not one line matching /$pattern/"
    else
        pass "$what"
    fi
}

cases=0
for f in "$DIR"/*.in.yaml; do
    golden "$(basename "$f" .in.yaml)"
    cases=$((cases + 1))
done
[ "$cases" -ge 10 ] && pass "$cases golden cases" || fail "only $cases golden cases found in $DIR"
[ "$HAVE_PYYAML" -eq 1 ] || echo "note: python3-yaml missing; structure checks skipped"

E=$DIR/errors
refuse 1 'not valid YAML: line 5, column 4: did not find expected key' \
    "broken YAML is refused with its line" "$E/broken.yaml"
refuse 1 'not valid YAML: byte [0-9]+: invalid trailing UTF-8 octet' \
    "input that is not UTF-8 is refused" "$E/latin1.yaml"
refuse 1 '^shimfs inject: document 1 \(Pod json\): the pod spec is in flow style' \
    "a flow-style (JSON) pod spec is refused" "$E/flow.yaml"
refuse 1 '^shimfs inject: document 1 \(Pod\): container 2 is in flow style' \
    "a flow-style container is refused" "$E/flowcontainer.yaml"
refuse 1 '^shimfs inject: document 2 \(Deployment web\): spec.template is missing' \
    "a workload without a pod template is refused (earlier documents not written)" \
    "$E/notemplate.yaml"
refuse 1 'item 2 \(Pod two\): containers is an alias' \
    "an aliased containers list is refused" "$E/alias.yaml"
refuse 1 'ends in a block scalar \(\| or >\) without a final line break' \
    "a block scalar ending the input without a line break is refused" "$E/blockeof.yaml"
refuse 1 'cannot tell where .* ends \(an empty list item\?\)' \
    "an empty list item where lines must follow is refused" "$E/emptyitem.yaml"
refuse 1 'container a: LD_PRELOAD comes from valueFrom' \
    "LD_PRELOAD from valueFrom is refused" "$E/valuefrom.yaml"
refuse 2 'needs an absolute path' "a relative --cache-dir is a usage error" \
    "$DIR/pod.in.yaml" --cache-dir cache
refuse 2 'needs a parent folder other than /' "a --cache-dir right below / is a usage error" \
    "$DIR/pod.in.yaml" --cache-dir /cache
refuse 2 'exclude each other' "--cache-host-path with --cache-pvc is a usage error" \
    "$DIR/pod.in.yaml" --cache-host-path /mnt/nvme --cache-pvc c
refuse 2 "unknown option '--nope'" "an unknown option is a usage error" \
    "$DIR/pod.in.yaml" --nope
refuse 2 'needs a value' "an empty --secret is a usage error" "$DIR/pod.in.yaml" --secret ''

# A failed write is reported, not silent.
if [ -w /dev/full ]; then
    rc=0
    "$CLI" inject < "$DIR/pod.in.yaml" > /dev/full 2> "$ERR" || rc=$?
    if [ "$rc" -eq 1 ] && grep -q 'standard output: No space left on device' "$ERR"; then
        pass "a full standard output: exit 1 and why"
    else
        fail "a full standard output: exit $rc, stderr '$(cat "$ERR")'"
    fi
fi

# Documents without pod templates pass through untouched, byte for byte.
printf 'a: 1\n---\n# just a comment\n...\n---\nkind: ConfigMap\ndata: {x: "y"}\n' > "$TEST_SCRATCH/plain.yaml"
inject "$TEST_SCRATCH/plain.yaml" "$OUT"
assert_eq 0 "$rc" "documents without pod templates: exit 0"
assert_files_equal "$TEST_SCRATCH/plain.yaml" "$OUT" "documents without pod templates pass through"
: > "$TEST_SCRATCH/empty.yaml"
inject "$TEST_SCRATCH/empty.yaml" "$OUT"
assert_eq "0 0" "$rc $(wc -c < "$OUT")" "empty input: exit 0, empty output"

# --help goes to stdout and names the options the docs rely on.
help=$("$CLI" inject --help)
for opt in --prefix --secret --image --cache-dir --cache-host-path --cache-pvc --container --warmup; do
    case $help in *"$opt"*) pass "--help names $opt" ;; *) fail "--help lacks $opt" ;; esac
done

# Random streams (seeded, bounded) round-trip: success, structure, idempotency.
if [ "$HAVE_PYYAML" -eq 1 ]; then
    check "60 random manifest streams round-trip" \
        python3 "$TEST_ROOT/tests/integration/inject_roundtrip.py" "$CLI" 60
fi

# The sample in deploy/ is the command's real output (and every sample parses).
DEPLOY=$TEST_ROOT/deploy
inject "$DEPLOY/pytorchjob.yaml" "$OUT" --prefix /mnt/data --image registry.example.com/shimfs:0.1.0 \
    --cache-host-path /mnt/nvme0/shimfs --cache-dir /nvme/shimfs/cache --cache-size 500G
assert_files_equal "$DEPLOY/pytorchjob-injected.yaml" "$OUT" \
    "deploy/pytorchjob-injected.yaml is shimfs inject of deploy/pytorchjob.yaml"
if [ "$HAVE_PYYAML" -eq 1 ]; then
    for f in "$DEPLOY"/*.yaml; do
        check "deploy/$(basename "$f") parses" \
            python3 -c 'import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))' "$f"
    done
fi

# scripts/bench-lib.sh — helpers the benchmark scripts share (sourced, not
# run): the generated datasets, medians, the S3 server's object lists and
# the curl command lines that measure its ceiling.
# Promises: defines functions and nothing else at source time (no
# services, no files); every function takes what it needs as arguments
# (no global of the caller is read, except bench_log for messages).
# shellcheck shell=bash

# A dataset made by gen-dataset.sh, regenerated only when its parameters
# changed (the stamp file next to it records them).
bench_dataset() {
    local dir=$1 files=$2 dirs=$3 size=$4 stamp="$2 $3 $4"
    if [ "$(cat "$dir.stamp" 2> /dev/null)" != "$stamp" ]; then
        printf 'bench: generating %s files of %s in %s\n' "$files" "$size" "$dir" >&2
        rm -rf "$dir" "$dir.stamp"
        "$(dirname "${BASH_SOURCE[0]}")/gen-dataset.sh" "$dir" "$files" "$dirs" "$size"
        echo "$stamp" > "$dir.stamp"
    fi
}

# The median of its arguments (the upper one of an even count).
bench_median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Mebibytes in a tree's regular files, 3 decimals.
bench_tree_mib() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.3f", s / 1048576 }'; }

# The 1-, 5- and 15-minute load averages.
bench_load() { cut -d' ' -f1-3 /proc/loadavg; }

# Every key of bucket $2 at endpoint $1 that contains $3 (default: a
# volume's block objects, "/chunks/"), one a line, by botocore.
bench_list_keys() {
    /usr/bin/python3 - "$1" "$2" "${3:-/chunks/}" << 'EOF'
import os, sys
import botocore.config, botocore.session
endpoint, bucket, part = sys.argv[1:4]
c = botocore.session.get_session().create_client(
    "s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"),
    config=botocore.config.Config(s3={"addressing_style": "path"}))
for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    for o in page.get("Contents", []):
        if part in o["Key"]:
            print(o["Key"])
EOF
}

# A curl config (-K) that GETs every key listed in file $1 from bucket URL
# $3, written to $2; output to /dev/null, or to numbered files under $4.
bench_curl_get_cfg() {
    awk -v e="$3" -v d="${4:-}" \
        '{ printf "url = \"%s/%s\"\noutput = \"%s\"\n", e, $1, d == "" ? "/dev/null" : d "/" NR }' \
        "$1" > "$2"
}

# A curl config that PUTs every file listed in file $1 to bucket URL $3
# under key prefix $4 (keys: prefix/N), written to $2.
bench_curl_put_cfg() {
    awk -v e="$3" -v p="$4" \
        '{ printf "url = \"%s/%s/%d\"\nupload-file = \"%s\"\noutput = \"/dev/null\"\n", e, p, NR, $0 }' \
        "$1" > "$2"
}

# Sets BENCH_CURL_GET and BENCH_CURL_PUT: curl signing with the services'
# credentials (SigV4; s3rver wants x-amz-content-sha256 on every request),
# $1 requests in parallel (-K config files supply the URLs).
bench_curl_init() {
    local sign=(--aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY")
    BENCH_CURL_GET=(curl -sS --no-progress-meter --fail -Z --parallel-max "$1" --parallel-immediate "${sign[@]}"
                    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    BENCH_CURL_PUT=(curl -sS --no-progress-meter --fail -Z --parallel-max "$1" --parallel-immediate "${sign[@]}"
                    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
}

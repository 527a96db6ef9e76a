#!/usr/bin/env bash
# tests/integration/test_venv.sh — a Python virtual environment stored in
# the volume (issue 13), made and used by /usr/bin/python3 (Debian's; the
# pyenv python3 on PATH has no python3-venv):
#  - `python3 -m venv --without-pip` into the volume; its pyvenv.cfg and
#    the bin/python symlink are there;
#  - its python (exec of the volume symlink) runs with sys.prefix = the
#    venv;
#  - a pure module and a C extension module built here (offline: gcc and
#    python3-dev's headers), installed into the venv's site-packages and
#    imported; the extension needs a helper library of its own found
#    through DT_RUNPATH $ORIGIN/spam.libs (as auditwheel lays out wheels);
#  - a console script in bin/ (`#!<venv>/bin/python`) runs as a program.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd gcc

PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import venv' 2> /dev/null || skip_test "no /usr/bin/python3 with venv"
INC=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$INC/Python.h" ] || skip_test "no Python.h for /usr/bin/python3 (python3-dev)"
SUFFIX=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
PYVER=$("$PY" -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
PREFIX=/mnt/shimfs-venv-$$
VENV=$PREFIX/v/venv
SITE=$VENV/lib/$PYVER/site-packages
SRC=$TEST_SCRATCH/src
test_volume venv

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}

check "mkdir" shim mkdir -p "$PREFIX/v"
check "python3 -m venv into the volume" shim "$PY" -m venv --without-pip "$VENV"
assert_eq "python3" "$(shim readlink "$VENV/bin/python")" "bin/python is a symlink"
case $(shim cat "$VENV/pyvenv.cfg") in
    *"home = /usr/bin"*) pass "pyvenv.cfg written" ;;
    *) fail "pyvenv.cfg: $(shim cat "$VENV/pyvenv.cfg" 2>&1)" ;;
esac

# The venv's python, exec'd from the volume by a preloaded program (env):
# the shim runs the copy of the symlink's target with argv[0] the venv
# path, so python finds pyvenv.cfg as on a local disk.
venv_py() { shim env "$VENV/bin/python" "$@"; }
out=$(venv_py -c 'import sys; print(sys.prefix == sys.argv[1], sys.base_prefix)' "$VENV" 2>&1)
assert_eq "True /usr" "$out" "the venv's python runs with sys.prefix = the venv"

# ---- modules installed into site-packages ----
mkdir -p "$SRC/spam.libs"
cat > "$SRC/helper.c" <<'EOF'
int helper_twice(int x) { return 2 * x; }
EOF
cat > "$SRC/spam.c" <<'EOF'
#define PY_SSIZE_T_CLEAN
#include <Python.h>
int helper_twice(int x);
static PyObject *spam_twice(PyObject *self, PyObject *args)
{
    int x;
    (void)self;
    if (!PyArg_ParseTuple(args, "i", &x))
        return NULL;
    return PyLong_FromLong(helper_twice(x));
}
static PyMethodDef spam_methods[] = {
    { "twice", spam_twice, METH_VARARGS, "2x, by a helper library" },
    { NULL, NULL, 0, NULL },
};
static struct PyModuleDef spam_module = { PyModuleDef_HEAD_INIT, "spam", NULL, -1, spam_methods };
PyMODINIT_FUNC PyInit_spam(void) { return PyModule_Create(&spam_module); }
EOF
gcc -shared -fPIC -Wl,-soname,libhelper-1a2b.so -o "$SRC/spam.libs/libhelper-1a2b.so" "$SRC/helper.c"
gcc -shared -fPIC -I"$INC" -o "$SRC/spam$SUFFIX" "$SRC/spam.c" -L"$SRC/spam.libs" -lhelper-1a2b \
    -Wl,-rpath,'$ORIGIN/spam.libs' -Wl,--enable-new-dtags
printf 'def hello():\n    return "pure hello"\n' > "$SRC/puremod.py"
check "install the modules" shim cp "$SRC/spam$SUFFIX" "$SRC/puremod.py" "$SITE/"
check "install the helper library" shim cp -r "$SRC/spam.libs" "$SITE/"

out=$(venv_py -c '
import puremod, spam, sys
print(puremod.hello(), puremod.__file__.startswith(sys.prefix))
print("spam", spam.twice(21), spam.__file__.startswith(sys.prefix))
' 2>&1)
echo "$out" | sed 's/^/    /'
assert_eq "pure hello True" "$(echo "$out" | sed -n 1p)" "a pure module from the venv imports"
assert_eq "spam 42 True" "$(echo "$out" | sed -n 2p)" \
    "a C extension from the venv imports, its helper found through \$ORIGIN/spam.libs"

# ---- a console script in bin/ ----
printf '#!%s\nimport sys, puremod\nprint("script", puremod.hello(), sys.prefix == "%s")\n' \
    "$VENV/bin/python" "$VENV" > "$SRC/hello"
check "install the console script" shim cp "$SRC/hello" "$VENV/bin/hello"
check "chmod +x" shim chmod 0755 "$VENV/bin/hello"
out=$(shim env "$VENV/bin/hello" 2>&1)
assert_eq "script pure hello True" "$out" "the console script runs as a program"

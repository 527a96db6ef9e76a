#!/usr/bin/env python3
"""scripts/gen-man.py - the man pages, from the texts users already read.

usage: gen-man.py --version V --shimfs BIN --shimfs-run SCRIPT TEMPLATE OUT

TEMPLATE (docs/man/*.in) is roff written by hand around placeholder lines,
which are replaced by roff made from the programs themselves, so that a man
page cannot say something else than `shimfs help CMD` or the settings table:

  @COMMANDS@        a subsection per command of `shimfs --help`'s list, made
                    from `shimfs CMD --help` (`shimfs help CMD`'s text)
  @GLOBAL_OPTIONS@  the Options block of `shimfs --help`
  @ENVIRONMENT@     the list of settings of `shimfs --help`
  @SETTINGS@        every setting, from `shimfs settings --markdown`, the
                    rendering of core/settings.def that docs/configuration.md
                    holds
  @SHIMFS_RUN_HELP@ the description and options of `shimfs-run --help`
and @VERSION@ / @DATE@ anywhere. Fails (exit 1, one line) when a text does
not have the shape this script reads, rather than write a page that drops
part of it. Writes OUT atomically.
"""
import argparse
import os
import re
import subprocess
import sys
import time

# Non-ASCII characters of the help texts, as groff names them.
GLYPHS = {'→': r'\(->', '←': r'\(<-', '×': r'\(mu', 'µ': r'\(mc', '–': r'\(en',
          '—': r'\(em', '≤': r'\(<=', '≥': r'\(>=', '…': '...', '‘': r'\(oq',
          '’': r'\(cq', '“': r'\(lq', '”': r'\(rq', '≈': r'\(~~', '±': r'\(+-',
          '°': r'\(de', 'é': r"\('e"}


def die(msg):
    print('gen-man: ' + msg, file=sys.stderr)
    sys.exit(1)


def run(argv):
    try:
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        die('%s: %s' % (' '.join(argv), e))


def esc(text):
    """Plain text to roff: backslashes, option dashes, non-ASCII."""
    out = []
    for i, ch in enumerate(text):
        if ch == '\\':
            out.append(r'\e')
        elif ch == '-' and (i == 0 or not text[i - 1].isalnum()):
            out.append(r'\-')   # an option's dash, not a hyphen
        elif ord(ch) > 127:
            out.append(GLYPHS.get(ch, r'\[u%04X]' % ord(ch)))
        else:
            out.append(ch)
    return ''.join(out)


def line_safe(s):
    """A text line must not start with a control character."""
    return '\\&' + s if s[:1] in ('.', "'") else s


def fmt_syntax(text):
    """A usage or an option: options bold, PLACEHOLDERS italic."""
    out, pos = [], 0
    for m in re.finditer(r'(?<![\w-])(--?[A-Za-z0-9][\w-]*)|(?<![\w-])([A-Z][A-Z0-9_]+(?:\.\.\.)?)(?![\w-])|'
                         r'^(shimfs(?:-run)?(?: [a-z]+)?)(?= |$)', text):
        out.append(esc(text[pos:m.start()]))
        if m.group(1):
            out.append(r'\fB' + esc(m.group(1)) + r'\fR')
        elif m.group(2):
            out.append(r'\fI' + esc(m.group(2)) + r'\fR')
        else:
            out.append(r'\fB' + esc(m.group(3)) + r'\fR')
        pos = m.end()
    out.append(esc(text[pos:]))
    return ''.join(out)


def md_inline(text):
    """Markdown of the settings table to roff: code and bold in bold."""
    out, pos = [], 0
    for m in re.finditer(r'`([^`]*)`|\*\*([^*]*)\*\*', text):
        out.append(esc(text[pos:m.start()]))
        out.append(r'\fB' + esc(m.group(1) if m.group(1) is not None else m.group(2)) + r'\fR')
        pos = m.end()
    out.append(esc(text[pos:]))
    return ''.join(out)


def is_option(line):
    return re.match(r'^ {1,8}-', line) is not None


def option_column(group):
    """Where descriptions start in a block of options (they are aligned)."""
    cols = {}
    for ln in group:
        if is_option(ln):
            m = re.match(r'^( *\S.*?\S? {2,})\S', ln)
            if m:
                cols[len(m.group(1))] = cols.get(len(m.group(1)), 0) + 1
        else:
            c = len(ln) - len(ln.lstrip())
            cols[c] = cols.get(c, 0) + 1
    if not cols:
        return None
    return max(cols, key=lambda c: (cols[c], -c))


def help_body(text, what):
    """`usage: ...` then paragraphs and option lists, as roff lines; also
    returns the usage."""
    lines = text.rstrip('\n').split('\n')
    if not lines or not lines[0].startswith('usage: '):
        die('%s: the help does not start with "usage: "' % what)
    usage = [lines[0][len('usage: '):]]
    i = 1
    while i < len(lines) and lines[i].startswith(' ') and lines[i].strip():
        usage.append(lines[i].strip())
        i += 1
    out = []
    while i < len(lines):
        ln = lines[i]
        if not ln.strip():
            i += 1
            continue
        if is_option(ln):
            group = []
            while i < len(lines) and lines[i].strip() and (is_option(lines[i]) or
                                                           re.match(r'^ {3,}\S', lines[i])):
                group.append(lines[i])
                i += 1
            col = option_column(group)
            for ln2 in group:
                if is_option(ln2):
                    if col and len(ln2) > col and ln2[col - 1] == ' ' and ln2[:col].strip():
                        spec, desc = ln2[:col].strip(), ln2[col:].strip()
                    else:
                        parts = re.split(r' {2,}', ln2.strip(), maxsplit=1)
                        spec, desc = parts[0], parts[1] if len(parts) > 1 else ''
                    out += ['.TP', fmt_syntax(spec)]
                    if desc:
                        out.append(line_safe(esc(desc)))
                else:
                    out.append(line_safe(esc(ln2.strip())))
        elif ln.startswith(' '):
            out += ['.PP', '.RS', '.nf']
            while i < len(lines) and lines[i].startswith(' ') and not is_option(lines[i]):
                out.append(line_safe(esc(lines[i].strip())))
                i += 1
            out += ['.fi', '.RE']
        else:
            out.append('.PP')
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(' '):
                out.append(line_safe(esc(lines[i].strip())))
                i += 1
    return usage, out


def block_after(text, header, what):
    """The lines after HEADER up to the next blank line."""
    lines = text.split('\n')
    for k, ln in enumerate(lines):
        if ln.startswith(header):
            rest = []
            for ln2 in lines[k + 1:]:
                if not ln2.strip():
                    break
                rest.append(ln2)
            return rest
    die('%s: no "%s" block' % (what, header))


def commands(shimfs):
    top = run([shimfs, '--help'])
    out = []
    names = []
    for ln in block_after(top, 'Commands:', 'shimfs --help'):
        m = re.match(r'^  (\S+) +(\S.*)$', ln)
        if not m:
            die('shimfs --help: cannot read the command line "%s"' % ln)
        names.append((m.group(1), m.group(2)))
    for name, summary in names:
        if name == 'help':
            out += ['.SS "shimfs help [\\fICOMMAND\\fR | settings]"',
                    line_safe(esc(summary[0].upper() + summary[1:])) + '.',
                    '.B shimfs help',
                    '.I COMMAND',
                    'prints the same text as',
                    '.BR "shimfs COMMAND \\-\\-help" ;',
                    '.B shimfs help settings',
                    'explains every setting, as',
                    '.BR libshimfs (7)',
                    'does.']
            continue
        usage, body = help_body(run([shimfs, name, '--help']), 'shimfs %s --help' % name)
        out.append('.SS "shimfs %s"' % esc(name))
        for u in usage:
            out += [fmt_syntax(u), '.br']
        out += body
    return out, [n for n, _ in names]


def global_options(shimfs):
    group = block_after(run([shimfs, '--help']), 'Options:', 'shimfs --help')
    _, body = help_body('usage: x\n\n' + '\n'.join(group) + '\n', 'shimfs --help')
    return body


def environment(shimfs):
    """`shimfs --help`'s list: NAME (padded to 24) then what it sets [default]."""
    lines = block_after(run([shimfs, '--help']), 'Settings (', 'shimfs --help')
    out, name = [], None
    for ln in lines[1:]:               # lines[0] is the column header
        if not ln.startswith('  '):
            die('shimfs --help: cannot read the setting line "%s"' % ln)
        head, tail = ln[2:26].strip(), ln[27:].strip()
        if len(ln) > 27 and ln[26] != ' ':   # a name longer than its column
            head, tail = ln.strip(), ''
        if head:
            name = head
        if tail:
            if not name:
                die('shimfs --help: a setting line without a name: "%s"' % ln)
            out += ['.TP', ', '.join(r'\fB%s\fR' % esc(n.strip()) for n in name.split(',')),
                    line_safe(esc(tail))]
            name = None
    if name:
        die('shimfs --help: setting %s has no description' % name)
    return out


def settings(shimfs):
    """`shimfs settings --markdown`: ## sections of 4-column tables, then
    a last section of prose."""
    md = run([shimfs, 'settings', '--markdown']).split('\n')
    out, n = [], 0
    for ln in md:
        if ln.startswith('<!--') or not ln.strip() or ln.startswith('| variable |') or ln.startswith('| ---'):
            continue
        if ln.startswith('## '):
            out.append('.SS "%s"' % esc(ln[3:]))
        elif ln.startswith('| '):
            cells = [c.strip() for c in ln.strip().strip('|').split(' | ')]
            if len(cells) != 4:
                die('settings --markdown: a row without 4 cells: "%s"' % ln[:80])
            name, default, values, doc = cells
            out += ['.TP', md_inline(name),
                    line_safe('Default: ' + md_inline(default) + '. Values: ' + md_inline(values) + '.'),
                    '.br', line_safe(md_inline(doc))]
            n += 1
        else:
            out.append(line_safe(md_inline(ln)))
    if n == 0:
        die('settings --markdown: no setting found')
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--version', required=True)
    ap.add_argument('--shimfs', required=True)
    ap.add_argument('--shimfs-run', required=True)
    ap.add_argument('template')
    ap.add_argument('out')
    a = ap.parse_args()

    # The page's date: the template's last commit (reproducible), else now.
    epoch = os.environ.get('SOURCE_DATE_EPOCH')
    if not epoch:
        try:
            epoch = subprocess.run(['git', 'log', '-1', '--format=%ct', '--', os.path.basename(a.template)],
                                   cwd=os.path.dirname(os.path.abspath(a.template)), capture_output=True,
                                   text=True).stdout.strip()
        except OSError:
            epoch = ''
    epoch = int(epoch or time.time())
    date = time.strftime('%Y-%m-%d', time.gmtime(epoch))
    made = {}

    def gen(key):
        if key not in made:
            if key == 'COMMANDS':
                made[key] = commands(a.shimfs)[0]
            elif key == 'GLOBAL_OPTIONS':
                made[key] = global_options(a.shimfs)
            elif key == 'ENVIRONMENT':
                made[key] = environment(a.shimfs)
            elif key == 'SETTINGS':
                made[key] = settings(a.shimfs)
            elif key == 'SHIMFS_RUN_HELP':
                made[key] = help_body(run(['sh', a.shimfs_run, '--help']), 'shimfs-run --help')[1]
            else:
                die('%s: unknown placeholder @%s@' % (a.template, key))
        return made[key]

    out = []
    with open(a.template, encoding='utf-8') as f:
        for ln in f.read().split('\n'):
            m = re.match(r'^@([A-Z_]+)@$', ln)
            if m:
                out += gen(m.group(1))
            else:
                out.append(ln.replace('@VERSION@', a.version).replace('@DATE@', date))
    text = '\n'.join(out)
    if not text.endswith('\n'):
        text += '\n'
    tmp = '%s.tmp.%d' % (a.out, os.getpid())
    with open(tmp, 'w', encoding='ascii') as f:
        f.write(text)
    os.replace(tmp, a.out)


if __name__ == '__main__':
    main()

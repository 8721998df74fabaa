"""What the controller runs, and whether a fresh machine gets it from the install list.

One manifest, requirements/host-programs.txt, names every program (or file) that the Makefile,
lab/, tests/, bench/ and scripts/ use on the controller, directly or through a tool they drive
(podman runs netavark, iptables, conmon, runc), with the Debian package to install for it. The
Makefile installs exactly the packages named there; tests/host/ checks three things:

- every listed program resolves here, and the package that ships it (``dpkg -S``) is in the
  plan apt makes for a machine with nothing installed (``apt-get -s -o
  Dir::State::status=/dev/null install --no-install-recommends LIST``) or is Essential;
- every program the scripts execute (found by reading them, see ``scan``) is listed;
- the same for the lab hosts: what roles, playbooks and molecule run inside them is shipped by
  a package of lab/image-packages or lab/repo-packages, or by their dependencies.

Everything here is read-only: apt only simulates.
"""

import ast
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "requirements" / "host-programs.txt"
LAB_MANIFEST = ROOT / "lab" / "lab-programs.txt"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROGRAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")

# Shell words that are never programs of a package: builtins, keywords, and the scripts' own
# helper functions are found per file.
SHELL_WORDS = {
    "!", "[", "[[", "]]", "{", "}", "(", ")", "case", "do", "done", "elif", "else", "esac", "fi",
    "for", "function", "if", "in", "select", "then", "until", "while", "time", "alias", "break",
    "cd", "command", "compgen", "continue", "declare", "echo", "eval", "exec", "exit", "export",
    "false", "local", "printf", "pwd", "read", "readonly", "return", "set", "shift", "source",
    "test", "trap", "true", "type", "unset", "wait", ":", ".", "let", "shopt", "ulimit", "umask",
}
# Words that run the next word as the program.
SHELL_PREFIXES = {"exec", "command", "nohup", "setsid", "env", "sudo", "xargs"}


def manifest(path=MANIFEST):
    """[(program or absolute path, package, note)] from a manifest file."""
    rows = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split(None, 2)
        if len(fields) < 2:
            raise ValueError("%s: %r needs a program and a package" % (path.name, raw))
        rows.append((fields[0], fields[1], fields[2] if len(fields) > 2 else ""))
    return rows


def packages(path=MANIFEST):
    """The install list: every package the manifest names, once, in order."""
    seen = []
    for _program, package, _note in manifest(path):
        if package != "-" and package not in seen:
            seen.append(package)
    return seen


def _out(argv):
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def fresh_plan(pkgs):
    """Packages apt installs on a machine where nothing is installed, plus the Essential set."""
    proc = _out(["apt-get", "-s", "-o", "Dir::State::status=/dev/null", "install",
                 "--no-install-recommends"] + list(pkgs))
    if proc.returncode != 0:
        raise RuntimeError("apt cannot plan the install of %s:\n%s" % (" ".join(pkgs), proc.stderr))
    planned = {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("Inst ")}
    # Essential packages are on every Debian system; apt never lists them as dependencies.
    essential = _out(["dpkg-query", "-W", "-f", "${Package} ${Essential}\\n"]).stdout
    planned |= {line.split()[0] for line in essential.splitlines() if line.endswith(" yes")}
    return planned


def resolve(program):
    """The path the program runs from on this machine (outside the venv), or None."""
    if program.startswith("/"):
        return program if os.path.exists(program) else None
    path = os.environ.get("PATH", "").split(os.pathsep) + SYSTEM_PATH.split(os.pathsep)
    venv = str(ROOT / ".venv")
    path = [p for p in path if p and not p.startswith(venv)]
    return shutil.which(program, path=os.pathsep.join(path))


def owner(path):
    """The Debian package that ships path, following usrmerge aliases and symlinks, or None."""
    candidates = [path]
    for prefix in ("/usr/bin/", "/usr/sbin/", "/usr/lib/"):
        if path.startswith(prefix):
            candidates.append(path[len("/usr"):])
    for prefix in ("/bin/", "/sbin/", "/lib/"):
        if path.startswith(prefix):
            candidates.append("/usr" + path)
    real = os.path.realpath(path)
    if real != path:
        candidates.append(real)
    for candidate in candidates:
        proc = _out(["dpkg-query", "-S", candidate])
        if proc.returncode == 0:
            # "pkg1, pkg2: /path" when several ship a directory; programs have one owner.
            return proc.stdout.split(":", 1)[0].split(",")[0].strip()
    return None


def install_problems(rows, plan):
    """Messages for listed programs a fresh machine would not get from the install list."""
    problems = []
    for program, package, _note in rows:
        path = resolve(program)
        if path is None:
            problems.append("%s is listed with package %s, but it is not installed here after "
                            "`make deps`: is %s the package that ships it?" % (program, package, package))
            continue
        shipped_by = owner(path)
        if shipped_by is None:
            if package != "-":
                problems.append("%s (%s) belongs to no Debian package, but is listed with %s: "
                                "list it with package '-' if the machine provides it" % (program, path, package))
            continue
        if shipped_by not in plan:
            problems.append("%s (%s) is shipped by the Debian package %s, which a fresh machine does "
                            "not get from the install list: add '%s %s' to %s"
                            % (program, path, shipped_by, program, shipped_by, MANIFEST.relative_to(ROOT)))
    return problems


# --- reading the scripts ---------------------------------------------------------------------

def _is_program(word):
    if word.startswith("/"):
        return os.access(word, os.X_OK) and os.path.isfile(word) and word.startswith(("/usr/", "/bin/", "/sbin/"))
    return bool(PROGRAM_NAME.match(word)) and word not in SHELL_WORDS and resolve(word) is not None


def _string_constants(tree):
    """Module and function level NAME = "text" assignments, so that run(QEMU, ...) resolves."""
    constants = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            constants.update((t.id, node.value.value) for t in node.targets if isinstance(t, ast.Name))
    return constants


def _argv_literals(tree):
    """Lists and tuples passed to a call, assigned to a name, or extended with "+" (a looped-over tuple is not argv)."""
    literals = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            literals.add(id(node.args[0]))
        elif isinstance(node, ast.Assign) and not isinstance(node.targets[0], ast.Tuple):
            # `a, b = "init", None` unpacks values; only `argv = [...]` is a command line.
            literals.add(id(node.value))
        elif isinstance(node, ast.BinOp):
            literals.update((id(node.left), id(node.right)))
    return literals


_RUNNERS = re.compile(r"(run|sh|exec|check_output|Popen|call|which)$", re.IGNORECASE)


def _python_programs(source):
    """Programs a Python file executes (argv literals, run-helper calls) and package files it reads."""
    tree = ast.parse(source)
    constants = _string_constants(tree)
    argv_literals = _argv_literals(tree)

    def text(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        return constants.get(node.id) if isinstance(node, ast.Name) else None

    found = set()
    for node in ast.walk(tree):
        head = None
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts and id(node) in argv_literals:
            head = text(node.elts[0])
        elif isinstance(node, ast.Call) and node.args:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            head = (text(node.args[0]) or "").split(" ")[0] if _RUNNERS.search(name) else None
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # Firmware, ROMs and binaries named by their path.
            value = node.value
            if value.startswith(("/usr/", "/bin/", "/sbin/")) and os.path.isfile(value):
                found.add(value)
        if head and _is_program(head):
            found.add(head)
    return found


_SHELL_SPLIT = re.compile(r"\$\(|`|&&|\|\||[;|&(){}]|\bthen\b|\bdo\b|\belse\b|\bif\b|\bwhile\b|\buntil\b|!")
_HEREDOC = re.compile(r"<<-?\s*'?\"?([A-Za-z_]+)'?\"?")


def _command_words(line):
    """The first word of each simple command on one shell line."""
    code = _HEREDOC.sub(" ", line)
    code = re.sub(r"\$\(\(.*?\)\)", " ", code)  # arithmetic
    # Single quotes hold data, never a command ("printf '...;\\n...'"); nor do comments.
    code = re.sub(r"'[^']*'", "''", code)
    code = re.sub(r"(^|\s)#.*$", "", code)
    for part in _SHELL_SPLIT.split(code):
        try:
            words = shlex.split(part, comments=True)
        except ValueError:
            words = part.split()
        while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in SHELL_PREFIXES
                         or words[0].startswith("-") or words[0] == "timeout" or words[0].isdigit()):
            words = words[1:]
        if words:
            yield words[0].lstrip("@-+")  # make's recipe prefixes


def _shell_words(script):
    """Command names a shell script runs (its own functions, builtins and heredoc bodies left out)."""
    functions = set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\(\)", script, re.MULTILINE))
    names = set()
    heredoc = None
    for line in script.splitlines():
        if heredoc:
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        names.update(word for word in _command_words(line)
                     if PROGRAM_NAME.match(word) and word not in SHELL_WORDS | functions)
        match = _HEREDOC.search(line)
        heredoc = match.group(1) if match else None
    return names


def _shell_programs(script):
    """Programs of this machine that a shell script (or Makefile recipe) runs."""
    return {word for word in _shell_words(script) if _is_program(word)}


def _makefile_recipes(source):
    """Recipe lines and $(shell ...) commands of a Makefile, as shell text."""
    recipes = [line[1:] for line in source.splitlines() if line.startswith("\t")]
    return "\n".join(recipes + re.findall(r"\$\(shell ([^)]*)\)", source))


def scan(root=ROOT):
    """{program: [files that run it]} over the controller-side scripts of the repository."""
    found = {}

    def add(programs, path):
        for program in programs:
            found.setdefault(program, []).append(str(path.relative_to(root)))

    add(_shell_programs(_makefile_recipes((root / "Makefile").read_text())), root / "Makefile")
    for top in ("lab", "tests", "bench", "scripts"):
        for path in sorted((root / top).rglob("*")):
            if not path.is_file() or "/." in str(path.relative_to(root)) or "__pycache__" in path.parts:
                continue
            if path.suffix == ".py":
                add(_python_programs(path.read_text()), path)
            elif path.suffix == "" and path.read_text(errors="replace").startswith("#!/usr/bin/env bash"):
                add(_shell_programs(path.read_text()), path)
    return found


# Programs that a listed tool runs by itself, so no script names them: podman starts its network
# backend, which runs iptables, its monitor and the OCI runtime; qemu loads its option ROMs.
DRIVEN = {
    "podman": ["/usr/lib/podman/netavark", "iptables", "conmon", "runc"],
    "qemu-system-x86_64": ["/usr/lib/ipxe/qemu/efi-virtio.rom"],
}


def needed(root=ROOT):
    """{program: [why]}: what the scripts run, and what those programs run in turn."""
    found = scan(root)
    for program, runs in DRIVEN.items():
        if program in found:
            for other in runs:
                found.setdefault(other, []).append("run by %s" % program)
    return found


# --- the lab hosts --------------------------------------------------------------------------

def _yaml_commands(node, out, delegated=False):
    """Command lines of command/shell tasks in a YAML tree (tasks run on the controller skipped)."""
    if isinstance(node, list):
        for item in node:
            _yaml_commands(item, out, delegated)
        return
    if not isinstance(node, dict):
        return
    controller = ("localhost", "127.0.0.1")
    # Tasks delegated to the controller, and the tasks of a play on localhost, run there.
    delegated = (delegated or node.get("delegate_to") in controller or node.get("connection") == "local"
                 or ("tasks" in node and node.get("hosts") in controller))
    for key, value in node.items():
        # A short `command:`/`shell:` key is a task only beside its name (every task has one): a
        # module argument of that name (the uri body of a Kea control command) is data.
        is_task = key in ("ansible.builtin.command", "ansible.builtin.shell") or (
            key in ("command", "shell") and "name" in node
        )
        if is_task and not delegated:
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, dict):
                if isinstance(value.get("cmd"), str):
                    out.append(value["cmd"])
                argv = value.get("argv")
                if isinstance(argv, list) and argv and isinstance(argv[0], str):
                    out.append(shlex.quote(argv[0]))
        else:
            _yaml_commands(value, out, delegated)


def _testinfra_commands(source):
    """Command lines passed to testinfra's host.run/check_output (f-strings: their literal head)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("run", "check_output", "run_test", "run_expect") and node.args):
            arg = node.args[-1] if node.func.attr == "run_expect" else node.args[0]
            if isinstance(arg, ast.BinOp):
                arg = arg.left
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.append(arg.value)
            elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                out.append(arg.values[0].value)
    return out


def lab_scan(root=ROOT):
    """{program: [files]} that roles, playbooks and molecule run inside the lab hosts."""
    found = {}
    # molecule.yml is molecule's own configuration: its commands run on the controller.
    files = [p for top in ("roles", "playbooks", "extensions/molecule") for p in sorted((root / top).rglob("*.yml"))
             if p.name != "molecule.yml"]
    files += sorted((root / "lab").glob("*.yml"))
    for path in files:
        commands = []
        _yaml_commands(yaml.safe_load(path.read_text()), commands)
        for command in commands:
            if "{{" in command.split()[0] if command.split() else True:
                continue
            for program in _shell_words(command):
                found.setdefault(program, []).append(str(path.relative_to(root)))
    for path in sorted((root / "extensions/molecule").rglob("*.py")):
        for command in _testinfra_commands(path.read_text()):
            for program in _shell_words(command):
                found.setdefault(program, []).append(str(path.relative_to(root)))
    return found


def lab_files(image, repo):
    """{path: package} for the lab image's packages and every package of the offline repo."""
    files = {}
    listing = subprocess.run(
        ["podman", "run", "--rm", "--network", "none", image, "sh", "-c",
         "cd /var/lib/dpkg/info && grep -H '' *.list"
         " && for a in /etc/alternatives/*; do echo \"ALT $(basename $a) $(readlink -f $a)\"; done"],
        capture_output=True, text=True, check=True).stdout
    alternatives = {}
    for line in listing.splitlines():
        if line.startswith("ALT "):
            name, target = line.split(" ", 2)[1:]
            alternatives[name] = target
            continue
        name, path = line.split(".list:", 1)
        files.setdefault(path, name.split(":")[0])
    # A program such as awk is an alternative: the image runs the package of its target.
    for name, target in alternatives.items():
        if target in files:
            files.setdefault("/usr/bin/" + name, files[target])
    for deb in sorted(Path(repo).glob("*.deb")):
        package = subprocess.run(["dpkg-deb", "-f", str(deb), "Package"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        contents = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
        for line in contents.splitlines():
            path = line.split()[5].lstrip(".") if len(line.split()) > 5 else ""
            files.setdefault(path, package)
    return files


def lab_problems(found, files):
    """Messages for programs the lab hosts run that neither the image nor the repo ships."""
    problems = []
    for program, where in sorted(found.items()):
        dirs = ("/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/")
        if not any(d + program in files for d in dirs):
            problems.append("%s (run in the lab hosts by %s) is shipped by no package of lab/image-packages "
                            "or lab/repo-packages (nor their dependencies): add its package to "
                            "lab/repo-packages, or install it in a role" % (program, ", ".join(sorted(set(where)))))
    return problems

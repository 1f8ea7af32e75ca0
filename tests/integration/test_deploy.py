"""deploy/: what can be checked of the fleet files on a machine without
systemd running, a container engine or Kubernetes.

- the DaemonSet manifest passes yamllint (strict) and holds what leakwatch
  needs on a node: host PIDs, privileges, BTF and the cgroup tree mounted
  read-only, the scrape annotations on the port it listens on, explicitly;
- the command lines the DaemonSet and the systemd unit give leakwatch parse:
  leakwatch runs them as an unprivileged user, so a good command line stops
  at the privilege check (exit 3) and a bad one at the options (exit 64);
- the unit passes `systemd-analyze verify` where that tool exists;
- the Containerfile installs a package for every library leakwatch links.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import EXIT_PRIVILEGE, LEAKWATCH, REPO

DEPLOY = REPO / "deploy"
DAEMONSET = DEPLOY / "leakwatch-daemonset.yaml"
UNIT = DEPLOY / "leakwatch@.service"
CONTAINERFILE = DEPLOY / "Containerfile"
NOBODY = 65534


def daemonset():
    docs = [d for d in yaml.safe_load_all(DAEMONSET.read_text()) if d]
    (ds,) = [d for d in docs if d["kind"] == "DaemonSet"]
    return ds


def container(ds):
    (c,) = ds["spec"]["template"]["spec"]["containers"]
    return c


def parse_as_nobody(args):
    """leakwatch's exit status and stderr for args, run as nobody: options
    are parsed before privileges are checked."""
    res = subprocess.run([str(LEAKWATCH), *args], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10,
                         user=NOBODY, group=NOBODY, extra_groups=[])
    return res.returncode, res.stderr.decode(errors="replace")


def test_yamllint():
    yamllint = shutil.which("yamllint")
    if yamllint is None:
        pytest.fail("yamllint not found: tools/install-deps.sh installs it", pytrace=False)
    res = subprocess.run([yamllint, "-s", str(DAEMONSET)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=30)
    assert res.returncode == 0, res.stdout.decode()


def test_daemonset_node_access():
    ds = daemonset()
    pod = ds["spec"]["template"]["spec"]
    c = container(ds)
    assert pod["hostPID"] is True
    assert c["securityContext"]["privileged"] is True
    volumes = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for path in ("/sys/kernel/btf", "/sys/fs/cgroup"):
        assert path in mounts, "%s not mounted" % path
        assert mounts[path].get("readOnly") is True, "%s mounted writable" % path
        assert volumes[mounts[path]["name"]] == path, "%s is not the host's" % path


def test_daemonset_scrape_port():
    ds = daemonset()
    c = container(ds)
    notes = ds["spec"]["template"]["metadata"]["annotations"]
    args = c["args"]
    listen = args[args.index("--prometheus") + 1]
    host, _, port = listen.rpartition(":")
    assert host == "$(POD_IP)", "--prometheus %s: not bound to the pod's address" % listen
    (ports,) = c["ports"]
    assert notes["prometheus.io/scrape"] == "true"
    assert notes["prometheus.io/path"] == "/metrics"
    assert notes["prometheus.io/port"] == port == str(ports["containerPort"])
    assert "EXPOSE %s/tcp" % port in CONTAINERFILE.read_text()


def own_cgroup_dir():
    """This process's cgroup v2 directory: a cgroup that surely exists here,
    to stand for the node's kubepods cgroup."""
    mount = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        if post.split()[:1] == ["cgroup2"]:
            mount = pre.split()[4]
            break
    own = next((l[3:] for l in Path("/proc/self/cgroup").read_text().splitlines()
                if l.startswith("0::")), None)
    if mount is None or own is None:
        pytest.skip("no cgroup2 hierarchy here")
    return mount.rstrip("/") + own.rstrip("/")


def test_daemonset_command_line_parses():
    c = container(daemonset())
    env = {e["name"]: e.get("value") for e in c["env"]}
    env["POD_IP"] = "127.0.0.1"
    # the node's pods cgroup does not exist on this machine
    env["LEAKWATCH_CGROUP"] = own_cgroup_dir()
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in c["args"]]
    rc, err = parse_as_nobody(args)
    assert rc == EXIT_PRIVILEGE, "leakwatch %s: exit %d: %s" % (" ".join(args), rc, err)


def test_unit_command_line_parses():
    text = UNIT.read_text()
    default = re.search(r"^Environment=LEAKWATCH_ARGS=(.*)$", text, re.M).group(1).split()
    exec_start = re.search(r"^ExecStart=(.*?[^\\])$", text, re.M | re.S).group(1)
    assert re.search(r'exec /usr/local/sbin/leakwatch --prometheus "\$\$\{LEAKWATCH_LISTEN',
                     exec_start), exec_start
    assert '-p "$$pid" $${LEAKWATCH_ARGS}' in exec_start, exec_start
    args = ["--prometheus", "10.0.0.5:9477", "-p", "1", *default]
    rc, err = parse_as_nobody(args)
    assert rc == EXIT_PRIVILEGE, "leakwatch %s: exit %d: %s" % (" ".join(args), rc, err)


def test_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    # an instance, beside a stand-in for the service it watches
    shutil.copy(UNIT, tmp_path / "leakwatch@demo.service")
    (tmp_path / "demo.service").write_text("[Service]\nExecStart=/bin/true\n")
    res = subprocess.run([analyze, "verify", "leakwatch@demo.service"], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = res.stdout.decode(errors="replace")
    assert res.returncode == 0 and "leakwatch@" not in out, out


def test_containerfile_has_every_library():
    """Each library leakwatch links directly comes from a package the
    Containerfile installs (or from the base image's libc)."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        subprocess.run(["readelf", "-d", str(LEAKWATCH)], stdout=subprocess.PIPE,
                                       check=True).stdout.decode())
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(
        ["ldd", str(LEAKWATCH)], stdout=subprocess.PIPE, check=True).stdout.decode(), re.M))
    text = CONTAINERFILE.read_text()
    installed = set(re.findall(r"\b(lib[\w.+-]+|zlib1g)\b", text.split("COPY")[0]))
    missing = {}
    for lib in needed:
        real = os.path.realpath(paths[lib])
        out = subprocess.run(["dpkg", "-S", real], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE).stdout.decode()
        if not out:
            # merged /usr: dpkg knows the /lib path
            out = subprocess.run(["dpkg", "-S", real.replace("/usr/lib/", "/lib/", 1)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.decode()
        pkg = out.split(":")[0]
        assert pkg, "no package owns %s" % real
        if pkg not in installed | {"libc6", "libgcc-s1"}:
            missing[lib] = pkg
    assert not missing, "Containerfile lacks the packages of %s" % missing
    assert "COPY leakwatch /usr/sbin/leakwatch" in text

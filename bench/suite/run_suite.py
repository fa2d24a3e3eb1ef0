#!/usr/bin/env python3
"""The benchmark suite: one command, every section of RFC.md "Benchmarks".

Runs the real binaries (pageserver, pagebench, pagectl, peer_bench) of one
build directory on a pgbench dataset imported into a pageserver data
directory, and writes bench/results/<timestamp>/ (or --out):

  results.csv   one row per measured run, every section (columns: CSV_FIELDS)
  summary.md    the tables, the targets and how they came out, the machine,
                the date and the command of every section
  *.svg         gnuplot plots (working-set sweep, noisy neighbour, matrix,
                peers), with the .dat/.gp files that drew them
  logs/         every child's stdout/stderr

Sections (--sections, default all):
  physical  fio 8 KiB random reads (O_DIRECT, io_uring) on the image layer
            files at QD1 and QD32, side by side with pagebench random GetPage
            (direct, io-uring) at the same number of requests in flight.
  matrix    io mode x engine x workload (random, sequential runs) x clients,
            confined to the memory budget, cold start per cell.
  sweep     working sets from a fraction to several times the memory budget,
            buffered vs direct, confined; buffered runs warm the working set
            through the server right before measuring (the kernel here drops
            page cache left idle for about a minute).
  noisy     a neighbour process in the same memory cgroup allocates and keeps
            touching memory in the middle of a run: p99 per second, buffered
            vs direct.
  peers     in-process point reads of the same pages: our timeline
            (GetVectored), RocksDB (direct reads), LMDB (mmap), confined to
            the same memory budget.
  padding   direct + io-uring with every IO padded to an NVMe-class latency
            profile (io_latency_padding), beside the same runs unpadded.

The memory budget is enforced by a cgroup: v2 memory.max where the unified
hierarchy has the memory controller, else v1 memory.limit_in_bytes. The page
cache a process faults in is charged to its cgroup, so the layer files are
dropped from the page cache (posix_fadvise DONTNEED) before every confined
run. Needs root for the cgroup; without one the confined sections say so and
run unconfined (marked in the CSV: cgroup_limit_mib = 0).

--smoke runs every section on a tiny dataset for about a second each so CI
keeps the whole pipeline working; its numbers mean nothing.
"""

import argparse
import csv
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

PAGE = 8192
MIB = 1 << 20
TENANT = "11111111111111111111111111111111"
TIMELINE = "22222222222222222222222222222222"
PGBIN = "/usr/lib/postgresql/15/bin"

CSV_FIELDS = [
    "section", "system", "mode", "engine", "workload", "clients", "queue_depth",
    "working_set_mib", "cgroup_limit_mib", "page_cache_mib", "padding", "seconds", "requests",
    "errors", "requests_per_s", "mean_us", "p50_us", "p95_us", "p99_us", "p999_us",
    "p9999_us", "cpu_s_per_1k", "client_cpu_s_per_1k", "slots_busy", "data_ios_per_request", "rss_peak_mib", "cgroup_peak_mib",
    "note",
]


# --------------------------------------------------------------------------
# Small utilities


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_size(text):
    m = re.fullmatch(r"\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: expected bytes or N KiB/MiB/GiB")
    unit = {"B": 1, None: 1, "KiB": 1 << 10, "MiB": MIB, "GiB": 1 << 30}[m.group(2)]
    return int(m.group(1)) * unit


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, log_path, timeout=None, check=True, **kw):
    """Runs cmd to completion, stdout+stderr to log_path; returns stdout text."""
    with open(log_path, "ab") as lf:
        lf.write(("$ " + " ".join(cmd) + "\n").encode())
        lf.flush()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=lf, timeout=timeout, **kw)
        lf.write(p.stdout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {p.returncode}; see {log_path}")
    return p.stdout.decode()


def machine_description(data_dir):
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    dev = subprocess.run(["df", "--output=source,fstype", data_dir], capture_output=True,
                         text=True).stdout.split("\n")[1].split()
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem:.1f} GiB RAM, {dev[1]} on {dev[0]}, "
            f"Linux {platform.release()}")


# --------------------------------------------------------------------------
# Memory cgroup (v2 memory.max, else v1 memory.limit_in_bytes)


class MemoryCgroup:
    """A memory cgroup the suite moves its server (and neighbour) into."""

    def __init__(self, name):
        self.path = None
        self.v2 = False
        v2root = "/sys/fs/cgroup"
        if os.path.exists(os.path.join(v2root, "cgroup.controllers")):
            with open(os.path.join(v2root, "cgroup.controllers")) as f:
                if "memory" in f.read().split():
                    self.v2 = True
                    self.base = v2root
        if not self.v2:
            self.base = self._v1_base()
        if self.base is None:
            return
        path = os.path.join(self.base, name)
        try:
            os.makedirs(path, exist_ok=True)
            self.path = path
        except OSError as e:
            log(f"no memory cgroup ({e}); confined sections run unconfined")

    @staticmethod
    def _v1_base():
        root = "/sys/fs/cgroup/memory"
        if not os.path.isdir(root):
            return None
        # Nest under the cgroup this process is in (containers put us below /).
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, rel = line.strip().split(":", 2)
                if "memory" in controllers.split(","):
                    candidate = root + rel
                    if os.access(candidate, os.W_OK):
                        return candidate
        return root if os.access(root, os.W_OK) else None

    @property
    def available(self):
        return self.path is not None

    def _write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(str(value))

    def _read(self, name):
        with open(os.path.join(self.path, name)) as f:
            return f.read()

    def set_limit(self, limit_bytes):
        if not self.available:
            return
        self._write("memory.max" if self.v2 else "memory.limit_in_bytes", limit_bytes)
        self.reset_peak()

    def reset_peak(self):
        if not self.available:
            return
        try:
            if self.v2:
                self._write("memory.peak", 0)  # kernels >= 6.12 reset on write
            else:
                self._write("memory.max_usage_in_bytes", 0)
        except OSError:
            pass

    def peak_bytes(self):
        if not self.available:
            return 0
        try:
            return int(self._read("memory.peak" if self.v2 else "memory.max_usage_in_bytes"))
        except (OSError, ValueError):
            return 0

    def limit_bytes(self):
        if not self.available:
            return 0
        text = self._read("memory.max" if self.v2 else "memory.limit_in_bytes").strip()
        return 0 if text == "max" else int(text)

    def join_fn(self):
        """A preexec_fn that moves the child into this cgroup."""
        if not self.available:
            return None
        procs = os.path.join(self.path, "cgroup.procs")

        def join():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

        return join

    def remove(self):
        if self.available:
            try:
                os.rmdir(self.path)
            except OSError:
                pass


def drop_from_page_cache(root):
    """posix_fadvise(DONTNEED) on every file under root (layer files are clean)."""
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# --------------------------------------------------------------------------
# Dataset: pgbench -i -s SCALE, imported with pagectl import --pgdata


def run_as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.getuid() == 0 else cmd


def prepare_dataset(args, out):
    """Returns the data directory, building it when missing or of another scale."""
    ds = os.path.join(args.dataset_dir, f"pgbench-s{args.scale}")
    data = os.path.join(ds, "pageserver_data")
    marker = os.path.join(ds, "imported")
    if os.path.exists(marker):
        log(f"dataset: reusing {ds}")
        return data
    shutil.rmtree(ds, ignore_errors=True)
    os.makedirs(ds)
    # The throwaway cluster lives in /tmp, which the postgres user can reach
    # whatever the permissions on the path of the dataset directory.
    pg = tempfile.mkdtemp(prefix="pageserver-bench-pg.")
    if os.getuid() == 0:
        shutil.chown(pg, "postgres")
    lp = os.path.join(out, "logs", "dataset.log")
    port = str(free_port())
    t0 = time.time()
    log(f"dataset: initdb, pgbench -i -s {args.scale} (log {lp})")
    run(run_as_postgres([f"{PGBIN}/initdb", "-D", f"{pg}/data", "-U", "postgres", "-A",
                         "trust"]), lp)
    run(run_as_postgres([f"{PGBIN}/pg_ctl", "-D", f"{pg}/data", "-l", f"{pg}/postgres.log",
                         "-w", "-o", f"-p {port} -k {pg} -c listen_addresses=''", "start"]), lp)
    try:
        run(run_as_postgres([f"{PGBIN}/pgbench", "-i", "-s", str(args.scale), "-q", "-h", pg,
                             "-p", port, "-U", "postgres", "postgres"]), lp)
    finally:
        run(run_as_postgres([f"{PGBIN}/pg_ctl", "-D", f"{pg}/data", "-m", "fast", "-w",
                             "stop"]), lp)
    log("dataset: pagectl import --pgdata")
    run([args.bin["pagectl"], "import", "--pgdata", f"{pg}/data", "--data-dir", data,
         "--tenant", TENANT, "--timeline", TIMELINE], lp)
    shutil.rmtree(pg)
    with open(marker, "w") as f:
        f.write(f"scale {args.scale}, built in {time.time() - t0:.0f} s\n")
    log(f"dataset: built in {time.time() - t0:.0f} s")
    return data


def layer_files(data):
    """The timeline's layer files, image layers first (fio reads these)."""
    images, deltas = [], []
    for dirpath, _, files in os.walk(os.path.join(data, "tenants")):
        for name in files:
            path = os.path.join(dirpath, name)
            if "__" not in name or name.endswith((".tmp", ".json")):
                continue
            # <key range>__<lsn> is an image layer, <key range>__<lsn>-<lsn> a delta.
            (deltas if "-" in name.split("__")[1] else images).append(path)
    return sorted(images), sorted(deltas)


def tree_bytes(root):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)


# --------------------------------------------------------------------------
# The daemon under test


class Server:
    """One pageserver process on the dataset, optionally inside the cgroup."""

    def __init__(self, args, data, out, name, mode, engine, cgroup=None, padding="",
                 threads=32):
        self.args = args
        self.pg_port = free_port()
        self.http_port = free_port()
        self.http = f"http://127.0.0.1:{self.http_port}"
        self.conninfo = f"host=127.0.0.1 port={self.pg_port}"
        overrides = {
            "data_dir": f'"{data}"',
            "listen_pg_addr": f'"127.0.0.1:{self.pg_port}"',
            "listen_http_addr": f'"127.0.0.1:{self.http_port}"',
            "virtual_file_io_mode": f'"{mode}"',
            "virtual_file_io_engine": f'"{engine}"',
            "page_cache_size": str(args.page_cache),
            "connection_threads": str(threads),
            "io_latency_padding": f'"{padding}"',
            "direct_io_fallback": "false",
            "log_level": '"warn"',
        }
        # --server-config KEY=VALUE (e.g. pipeline_depth=1): every server of the run.
        for item in args.server_config:
            key, value = item.split("=", 1)
            overrides[key.strip()] = value.strip()
        cmd = [args.bin["pageserver"]]
        for k, v in overrides.items():
            cmd += ["-c", f"{k}={v}"]
        self.log_path = os.path.join(out, "logs", f"{name}.server.log")
        self.logf = open(self.log_path, "ab")
        self.logf.write(("$ " + " ".join(cmd) + "\n").encode())
        self.logf.flush()
        if cgroup is not None:
            cgroup.reset_peak()
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=self.logf,
                                     preexec_fn=cgroup.join_fn() if cgroup else None)
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pageserver exited {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.http + "/v1/status", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"pageserver not ready in 60 s; see {self.log_path}")

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_peak_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def metrics(self):
        with urllib.request.urlopen(self.http + "/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()


def metric_sum(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = re.match(r"([a-zA-Z_:]+)(\{[^}]*\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def data_reads(metrics_text):
    """Data-block reads of the read path (coalesced IOs; index blocks are not in it)."""
    return metric_sum(metrics_text, "ps_timeline_data_reads_total")


# --------------------------------------------------------------------------
# pagebench


def pagebench(args, server, out, name, clients, qd, seconds, sequential=0, warmup=0.0,
              working_set=0, series=None, scan=False):
    cmd = [args.bin["pagebench"], "--page-service", server.conninfo, "--http", server.http,
           "--clients", str(clients), "--queue-depth", str(qd),
           "--threads", str(min(clients, 2)), "--duration", str(seconds), "--json",
           "--no-progress", "--fail-on-error", "--seed", "42"]
    if sequential:
        cmd += ["--sequential-runs", str(sequential)]
    if warmup:
        cmd += ["--warmup", str(warmup)]
    if working_set:
        cmd += ["--working-set", str(working_set)]
    if series:
        cmd += ["--series", series]
    if scan:
        cmd += ["--scan"]
    text = run(cmd, os.path.join(out, "logs", f"{name}.pagebench.log"),
               timeout=seconds + warmup + 600)
    return json.loads(text), " ".join(cmd[:1] + cmd[5:])


def measured(args, server, out, name, cgroup, **kw):
    """A pagebench run with the server's CPU, data reads, RSS and cgroup peak."""
    m0 = server.metrics()
    c0 = server.cpu_seconds()
    if cgroup is not None:
        cgroup.reset_peak()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res, cmd = pagebench(args, server, out, name, **kw)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    c1 = server.cpu_seconds()
    m1 = server.metrics()
    ok = max(res["ok"], 1)
    # The server's counters and CPU cover the warm-up too: per request of
    # everything pagebench sent.
    sent = max(res["ok"] + res["errors"] + res.get("warmup_requests", 0), 1)
    lat = res["latency_us"]
    row = {
        "seconds": round(res["elapsed_seconds"], 2),
        "requests": res["ok"],
        "errors": res["errors"],
        "requests_per_s": round(res["requests_per_second"], 1),
        "mean_us": round(lat["mean"], 1),
        "p50_us": lat["p50"], "p95_us": lat["p95"], "p99_us": lat["p99"],
        "p999_us": lat["p99_9"], "p9999_us": lat["p99_99"],
        "cpu_s_per_1k": round((c1 - c0) / sent * 1000, 4),
        # pagebench's own CPU over all it sent (warm-up included): with the
        # server's, how close the run came to the machine's cores.
        "client_cpu_s_per_1k": round((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) /
                                     sent * 1000, 4),
        "data_ios_per_request": round((data_reads(m1) - data_reads(m0)) / sent, 3),
        # Little's law: requests in flight on average (throughput x mean
        # latency) over the slots (clients x queue depth). A closed loop keeps
        # its slots busy, so a low value means the client idled between
        # requests (how a pagebench bug that slept 20 ms after a fast
        # response was found).
        "slots_busy": round(res["requests_per_second"] * lat["mean"] / 1e6 /
                            (kw["clients"] * kw["qd"]), 2),
        "rss_peak_mib": round(server.rss_peak_mib(), 1),
        "cgroup_peak_mib": round(cgroup.peak_bytes() / MIB, 1) if cgroup else 0,
        "clients": kw.get("clients"), "queue_depth": kw.get("qd"),
    }
    if res["errors"]:
        raise RuntimeError(f"{name}: {res['errors']} wrong or lost responses")
    return row, cmd


# --------------------------------------------------------------------------
# Results


class Results:
    def __init__(self, out):
        self.path = os.path.join(out, "results.csv")
        self.rows = []
        self.commands = {}  # section -> [command lines]
        with open(self.path, "w", newline="") as f:
            csv.DictWriter(f, CSV_FIELDS).writeheader()

    def add(self, section, row):
        row = {k: row.get(k, "") for k in CSV_FIELDS} | {"section": section}
        self.rows.append(row)
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, CSV_FIELDS).writerow(row)
        log(f"  {section}: " + ", ".join(f"{k}={row[k]}" for k in (
            "system", "mode", "engine", "workload", "clients", "queue_depth", "working_set_mib",
            "requests_per_s", "p50_us", "p99_us", "cpu_s_per_1k", "rss_peak_mib")
            if row[k] != ""))

    def command(self, section, cmd):
        cmds = self.commands.setdefault(section, [])
        if cmd not in cmds:
            cmds.append(cmd)

    def of(self, section):
        return [r for r in self.rows if r["section"] == section]


# --------------------------------------------------------------------------
# Sections


def fio(out, name, files, qd, seconds):
    """fio 8 KiB O_DIRECT io_uring random reads over the layer files."""
    cmd = ["fio", "--name=" + name, "--filename=" + ":".join(files), "--rw=randread",
           "--bs=8k", "--direct=1", "--ioengine=io_uring", f"--iodepth={qd}",
           "--time_based", f"--runtime={seconds}", "--norandommap", "--randrepeat=0",
           "--group_reporting", "--output-format=json"]
    text = run(cmd, os.path.join(out, "logs", f"{name}.fio.log"), timeout=seconds + 120)
    job = json.loads(text[text.index("{"):])["jobs"][0]
    rd = job["read"]
    pct = rd["clat_ns"]["percentile"]
    ios = max(rd["total_ios"], 1)
    cpu = (job["usr_cpu"] + job["sys_cpu"]) / 100 * job["job_runtime"] / 1000
    row = {
        "system": "fio", "mode": "direct", "engine": "io-uring", "workload": "random",
        "clients": 1, "queue_depth": qd, "seconds": round(job["job_runtime"] / 1000, 2),
        "requests": rd["total_ios"], "errors": job["error"],
        "requests_per_s": round(rd["iops"], 1), "mean_us": round(rd["clat_ns"]["mean"] / 1000, 1),
        "p50_us": pct["50.000000"] / 1000, "p95_us": pct["95.000000"] / 1000,
        "p99_us": pct["99.000000"] / 1000, "p999_us": pct["99.900000"] / 1000,
        "p9999_us": pct["99.990000"] / 1000, "cpu_s_per_1k": round(cpu / ios * 1000, 4),
        "data_ios_per_request": 1.0,
    }
    return row, " ".join(cmd[:2] + ["--filename=<image layers>"] + cmd[3:])


def section_physical(args, ctx):
    """fio and pagebench side by side: QD1 and QD32, direct + io-uring."""
    images, _ = layer_files(ctx.data)
    shapes = [(1, 1, 1), (32, 1, 32), (32, 32, 1), (32, 4, 8)]  # (in flight, clients, qd)
    for repeat in range(args.repeat):
        for inflight, clients, qd in shapes:
            row, cmd = fio(ctx.out, f"physical-fio-qd{inflight}-{repeat}", images,
                           inflight, args.seconds)
            ctx.results.add("physical", row | {"note": f"repeat {repeat}"})
            ctx.results.command("physical", cmd)
            drop_from_page_cache(ctx.data)
            srv = Server(args, ctx.data, ctx.out, f"physical-{inflight}-{clients}", "direct",
                         "io-uring")
            try:
                row, cmd = measured(args, srv, ctx.out, f"physical-pb-{clients}x{qd}-{repeat}",
                                    None, clients=clients, qd=qd, seconds=args.seconds,
                                    warmup=args.warmup)
            finally:
                srv.stop()
            ctx.results.add("physical", row | {"system": "pageserver", "mode": "direct",
                                               "engine": "io-uring", "workload": "random",
                                               "note": f"repeat {repeat}"})
            ctx.results.command("physical", cmd)


def confined_server(args, ctx, name, mode, engine, padding="", threads=32):
    drop_from_page_cache(ctx.data)
    ctx.cgroup.set_limit(args.budget)
    return Server(args, ctx.data, ctx.out, name, mode, engine, cgroup=ctx.cgroup,
                  padding=padding, threads=threads)


def common_fields(args, ctx, mode, engine, workload, ws=0, padding=""):
    return {"system": "pageserver", "mode": mode, "engine": engine, "workload": workload,
            # A working set larger than the data is clamped (as pagebench does).
            "working_set_mib": round(min(ws or ctx.dataset_bytes, ctx.dataset_bytes) / MIB),
            "cgroup_limit_mib": round(ctx.cgroup.limit_bytes() / MIB),
            "page_cache_mib": round(args.page_cache / MIB), "padding": padding}


def section_matrix(args, ctx):
    """mode x engine x workload x clients, confined, cold start per cell."""
    for mode in ("buffered", "direct"):
        for engine in ("std-fs", "io-uring"):
            for workload, runs in (("random", 0), ("sequential", args.run_length)):
                for clients in args.clients:
                    name = f"matrix-{mode}-{engine}-{workload}-{clients}"
                    srv = confined_server(args, ctx, name, mode, engine)
                    try:
                        row, cmd = measured(args, srv, ctx.out, name, ctx.cgroup,
                                            clients=clients, qd=max(runs, 1),
                                            seconds=args.seconds, sequential=runs,
                                            warmup=args.warmup)
                    finally:
                        srv.stop()
                    ctx.results.add("matrix", row | common_fields(args, ctx, mode, engine,
                                                                  workload))
                    ctx.results.command("matrix", cmd)


def section_sweep(args, ctx):
    """Working set from a fraction to several times the budget, buffered vs direct."""
    for ws in args.working_sets:
        for mode in ("buffered", "direct"):
            name = f"sweep-{mode}-{ws // MIB}MiB"
            srv = confined_server(args, ctx, name, mode, "io-uring")
            try:
                if mode == "buffered":
                    # Warm right before measuring: one read of every block of the
                    # working set through the server, so its page cache (charged
                    # to the cgroup) holds what fits.
                    pagebench(args, srv, ctx.out, name + "-warm", clients=4, qd=8,
                              seconds=args.seconds, working_set=ws, scan=True)
                row, cmd = measured(args, srv, ctx.out, name, ctx.cgroup, clients=args.sweep_clients,
                                    qd=1, seconds=args.seconds, working_set=ws)
            finally:
                srv.stop()
            ctx.results.add("sweep", row | common_fields(args, ctx, mode, "io-uring", "random",
                                                         ws) |
                            {"note": "warmed by one scan of the working set" if mode ==
                             "buffered" else "cold start"})
            ctx.results.command("sweep", cmd)


NEIGHBOUR = r"""
import sys, time
size, start, hold = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
time.sleep(start)
buf = bytearray(size)
end = time.time() + hold
while time.time() < end:          # keep every page hot, as a busy process would
    for i in range(0, size, 4096):
        buf[i] = (buf[i] + 1) & 0xFF
    time.sleep(0.2)
"""


def section_noisy(args, ctx):
    """A neighbour in the same cgroup grabs memory mid-run: p99 per second."""
    total = args.noisy_seconds
    start, hold = total / 3, total / 3
    for mode in ("buffered", "direct"):
        name = f"noisy-{mode}"
        series = os.path.join(ctx.out, f"{name}.series.csv")
        srv = confined_server(args, ctx, name, mode, "io-uring")
        try:
            if mode == "buffered":
                pagebench(args, srv, ctx.out, name + "-warm", clients=4, qd=8,
                          seconds=args.seconds, working_set=args.noisy_working_set, scan=True)
            hog = subprocess.Popen([sys.executable, "-c", NEIGHBOUR, str(args.noisy_bytes),
                                    str(start), str(hold)], preexec_fn=ctx.cgroup.join_fn())
            try:
                row, cmd = measured(args, srv, ctx.out, name, ctx.cgroup,
                                    clients=args.sweep_clients, qd=1, seconds=total,
                                    working_set=args.noisy_working_set, series=series)
            finally:
                hog.kill()
                hog.wait()
        finally:
            srv.stop()
        ctx.results.add("noisy", row | common_fields(args, ctx, mode, "io-uring", "random",
                                                     args.noisy_working_set) |
                        {"note": f"neighbour {args.noisy_bytes // MIB} MiB from "
                                 f"{start:.0f}s to {start + hold:.0f}s"})
        ctx.results.command("noisy", cmd)
        ctx.series[mode] = series


def section_peers(args, ctx):
    """Ours (in-process GetVectored), RocksDB and LMDB at the same memory budget."""
    csv_path = os.path.join(ctx.out, "peers.csv")
    base = [args.bin["peer_bench"], "--data-dir", ctx.data, "--tenant", TENANT,
            "--timeline", TIMELINE, "--peer-dir", os.path.join(ctx.dataset_root, "peers")]
    cmd = base + [
           "--systems", "ours,rocksdb,lmdb", "--threads", ",".join(map(str, args.clients)),
           "--duration", str(args.seconds), "--warmup", str(args.warmup),
           "--page-cache-size", str(args.page_cache), "--engine", "io-uring",
           "--mode", "direct", "--drop-caches", "--csv", csv_path]
    lp = os.path.join(ctx.out, "logs", "peers.log")
    # Build (or reuse) the peer databases unconfined, then measure confined.
    run(base + ["--prepare-only"], lp, timeout=3600)
    ctx.cgroup.set_limit(args.budget)
    run(cmd, lp, timeout=3600, preexec_fn=ctx.cgroup.join_fn())
    ctx.results.command("peers", " ".join(cmd))
    with open(csv_path) as f:
        for r in csv.DictReader(f):
            ctx.results.add("peers", {
                "system": r["system"], "mode": "direct" if r["system"] != "lmdb" else "mmap",
                "workload": "random", "clients": r["threads"], "queue_depth": 1,
                "working_set_mib": round(int(r["working_set_bytes"]) / MIB),
                "cgroup_limit_mib": round(ctx.cgroup.limit_bytes() / MIB),
                "page_cache_mib": round(args.page_cache / MIB), "seconds": r["seconds"],
                "requests": r["reads"], "errors": r["errors"],
                "requests_per_s": r["reads_per_s"], "mean_us": r["mean_us"],
                "p50_us": r["p50_us"], "p99_us": r["p99_us"], "p999_us": r["p999_us"],
                "cpu_s_per_1k": r["cpu_s_per_1k"],
                "data_ios_per_request": round(float(r["device_read_bytes_per_read"]) / PAGE, 3),
                "rss_peak_mib": r["rss_peak_mib"],
                "note": f"index/filter memory {r['index_mem_mib']} MiB"})


def section_padding(args, ctx):
    """Direct + io-uring random reads with IO padded to an NVMe-class profile."""
    for padding in ("", args.padding):
        for clients in args.clients:
            name = f"padding-{'on' if padding else 'off'}-{clients}"
            srv = confined_server(args, ctx, name, "direct", "io-uring", padding=padding)
            try:
                row, cmd = measured(args, srv, ctx.out, name, ctx.cgroup, clients=clients,
                                    qd=1, seconds=args.seconds, warmup=args.warmup)
            finally:
                srv.stop()
            ctx.results.add("padding", row | common_fields(args, ctx, "direct", "io-uring",
                                                           "random", padding=padding))
            ctx.results.command("padding", cmd + (f"  # server: -c io_latency_padding=\"{padding}\""
                                                  if padding else ""))


SECTIONS = {
    "physical": section_physical,
    "matrix": section_matrix,
    "sweep": section_sweep,
    "noisy": section_noisy,
    "peers": section_peers,
    "padding": section_padding,
}


# --------------------------------------------------------------------------
# Plots (gnuplot, SVG)


def gnuplot(out, name, script, datasets):
    """Writes name.dat blocks and name.gp, runs gnuplot -> name.svg."""
    dat = os.path.join(out, name + ".dat")
    with open(dat, "w") as f:
        for title, points in datasets:
            f.write(f"# {title}\n")
            for p in points:
                f.write(" ".join(str(v) for v in p) + "\n")
            f.write("\n\n")
    gp = os.path.join(out, name + ".gp")
    with open(gp, "w") as f:
        f.write("set terminal svg size 800,450 dynamic font 'sans,11'\n")
        f.write(f"set output '{name}.svg'\nset grid\nset key outside right top\n")
        f.write(script.replace("DAT", f"'{name}.dat'"))
    if shutil.which("gnuplot") is None:
        log("gnuplot not found: plots skipped (data and scripts are written)")
        return None
    subprocess.run(["gnuplot", name + ".gp"], cwd=out, check=True)
    return name + ".svg"


def plot_lines(out, name, title, xlabel, ylabel, series, logx=False, extra=""):
    plots = ", ".join(f"DAT index {i} using 1:2 with linespoints lw 2 title '{t}'"
                      for i, (t, _) in enumerate(series))
    script = (f"set title '{title}'\nset xlabel '{xlabel}'\nset ylabel '{ylabel}'\n" +
              ("set logscale x 2\n" if logx else "") + extra + f"plot {plots}\n")
    return gnuplot(out, name, script, series)


def fnum(v):
    return float(v) if v not in ("", None) else 0.0


def make_plots(args, ctx):
    plots = []
    rows = ctx.results.of("sweep")
    if rows:
        budget = args.budget / MIB
        extra = (f"set arrow from {budget},graph 0 to {budget},graph 1 nohead dt 2\n"
                 f"set label 'memory budget' at {budget},graph 0.95 offset 1,0\n")
        for metric, ylabel in (("requests_per_s", "GetPage requests/s"), ("p99_us", "p99 (us)")):
            series = [(mode, [(r["working_set_mib"], r[metric]) for r in rows
                              if r["mode"] == mode]) for mode in ("buffered", "direct")]
            plots.append(plot_lines(ctx.out, f"sweep_{metric}",
                                    f"Working-set sweep under a {budget:.0f} MiB cgroup limit",
                                    "working set (MiB)", ylabel, series, logx=True, extra=extra))
    if ctx.series:
        total = args.noisy_seconds
        extra = (f"set object 1 rect from {total / 3},graph 0 to {2 * total / 3},graph 1 "
                 "fc rgb '#eeeeee' behind\nset label 'neighbour allocating' at "
                 f"{total / 3},graph 0.95 offset 1,0\nset logscale y\n")
        series = []
        for mode, path in ctx.series.items():
            with open(path) as f:
                series.append((f"{mode} p99", [(r["second"], r["p99_us"])
                                               for r in csv.DictReader(f)]))
        plots.append(plot_lines(ctx.out, "noisy_p99", "Noisy neighbour: p99 per second",
                                "second", "p99 (us)", series, extra=extra))
    rows = ctx.results.of("matrix")
    if rows:
        keys = sorted({(r["mode"], r["engine"], r["workload"]) for r in rows})
        series = [(" ".join(k), [(r["clients"], r["requests_per_s"]) for r in rows
                                 if (r["mode"], r["engine"], r["workload"]) == k]) for k in keys]
        plots.append(plot_lines(ctx.out, "matrix_rps", "Matrix: requests/s by clients",
                                "clients", "requests/s", series, logx=True))
    rows = ctx.results.of("peers")
    if rows:
        series = [(s, [(r["clients"], r["requests_per_s"]) for r in rows if r["system"] == s])
                  for s in dict.fromkeys(r["system"] for r in rows)]
        plots.append(plot_lines(ctx.out, "peers_rps", "Point reads at equal memory",
                                "threads", "reads/s", series, logx=True))
    return [p for p in plots if p]


# --------------------------------------------------------------------------
# Markdown summary


def md_table(rows, cols):
    head = "| " + " | ".join(c for c, _ in cols) + " |\n"
    head += "|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(str(f(r)) for _, f in cols) + " |\n" for r in rows)


def col(name):
    return lambda r: r[name]


RUN_COLS = [("req/s", col("requests_per_s")), ("mean us", col("mean_us")),
            ("p50 us", col("p50_us")), ("p99 us", col("p99_us")), ("p99.9 us", col("p999_us")),
            ("server CPU s/1k req", col("cpu_s_per_1k")),
            ("client CPU s/1k req", col("client_cpu_s_per_1k")),
            ("slots busy", col("slots_busy")),
            ("data IOs/req", col("data_ios_per_request")),
            ("RSS peak MiB", col("rss_peak_mib"))]


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if v else 0.0


def verdict(ok):
    return "**pass**" if ok else "**miss**"


def physical_summary(ctx):
    rows = ctx.results.of("physical")
    if not rows:
        return "", []
    def med(system, clients, qd, metric):
        return median([fnum(r[metric]) for r in rows if r["system"] == system and
                       int(r["clients"]) == clients and int(r["queue_depth"]) == qd])
    fio32, fio1p99 = med("fio", 1, 32, "requests_per_s"), med("fio", 1, 1, "p99_us")
    lines = []
    targets = []
    for clients, qd in ((32, 1), (1, 32), (4, 8)):
        ours = med("pageserver", clients, qd, "requests_per_s")
        ratio = ours / fio32 if fio32 else 0
        lines.append(f"| GetPage {clients} client(s) x QD{qd} vs fio QD32 | {ours:.0f} vs "
                     f"{fio32:.0f} req/s | {ratio:.2f}x | >= 0.85x | {verdict(ratio >= 0.85)} |")
        targets.append(ratio >= 0.85)
    p99 = med("pageserver", 1, 1, "p99_us")
    lines.append(f"| GetPage p99 at 1 client vs fio QD1 p99 + 100 us | {p99:.0f} vs "
                 f"{fio1p99:.0f} + 100 us | {p99 - fio1p99:+.0f} us | <= +100 us | "
                 f"{verdict(p99 <= fio1p99 + 100)} |")
    text = ("| comparison (medians of the repeats) | measured | ratio | target | result |\n"
            "|---|---|---|---|---|\n" + "\n".join(lines) + "\n\n")
    text += md_table(rows, [("system", col("system")), ("clients", col("clients")),
                            ("QD", col("queue_depth")), ("repeat", col("note"))] + RUN_COLS)
    return text, targets


def memory_summary(args, ctx):
    rows = [r for r in ctx.results.rows if r["system"] == "pageserver" and r["rss_peak_mib"]]
    if not rows:
        return ""
    limit = args.page_cache / MIB + 64
    worst = max(rows, key=lambda r: fnum(r["rss_peak_mib"]))
    return (f"Largest pageserver RSS over every run: {worst['rss_peak_mib']} MiB "
            f"({worst['section']} {worst['mode']} {worst['engine']} {worst['workload']} "
            f"{worst['clients']} clients); target page_cache_size + 64 MiB = {limit:.0f} MiB: "
            f"{verdict(fnum(worst['rss_peak_mib']) <= limit)}.\n")


def noisy_summary(args, ctx):
    out = ""
    total = args.noisy_seconds
    phases = (("before", 0, total / 3), ("neighbour", total / 3, 2 * total / 3),
              ("after", 2 * total / 3, total + 1))
    rows = []
    for mode, path in ctx.series.items():
        with open(path) as f:
            points = list(csv.DictReader(f))
        row = {"mode": mode}
        for phase, lo, hi in phases:
            p99s = [fnum(p["p99_us"]) for p in points if lo <= fnum(p["second"]) < hi]
            reqs = [fnum(p["requests"]) for p in points if lo <= fnum(p["second"]) < hi]
            row[phase] = (f"{max(p99s):.0f} / {median(p99s):.0f} us, {median(reqs):.0f} req/s"
                          if p99s else "-")
        rows.append(row)
    if rows:
        out = ("Per-second p99 (worst / median of the seconds) and median requests/s, by phase:"
               "\n\n" + md_table(rows, [("mode", col("mode")), ("before", col("before")),
                                        ("neighbour allocating", col("neighbour")),
                                        ("after", col("after"))]))
    return out


def peers_summary(ctx):
    rows = ctx.results.of("peers")
    if not rows:
        return ""
    lines = []
    for threads in dict.fromkeys(r["clients"] for r in rows):
        ours = [fnum(r["requests_per_s"]) for r in rows if r["system"] == "ours" and
                r["clients"] == threads]
        rocks = [fnum(r["requests_per_s"]) for r in rows if r["system"] == "rocksdb" and
                 r["clients"] == threads]
        if ours and rocks and rocks[0]:
            lines.append(f"| {threads} threads | {ours[0]:.0f} vs {rocks[0]:.0f} reads/s | "
                         f"{ours[0] / rocks[0]:.2f}x | {verdict(ours[0] > rocks[0])} |")
    return ("| ours vs RocksDB (direct reads), random point reads | measured | ratio | result |\n"
            "|---|---|---|---|\n" + "\n".join(lines) + "\n\n" +
            md_table(rows, [("system", col("system")), ("threads", col("clients")),
                            ("working set MiB", col("working_set_mib")),
                            ("cgroup MiB", col("cgroup_limit_mib"))] + RUN_COLS +
                     [("note", col("note"))]))


def write_summary(args, ctx, plots):
    def commands(section):
        cmds = ctx.results.commands.get(section, [])
        return "```\n" + "\n".join(cmds) + "\n```\n" if cmds else ""

    cell = [("mode", col("mode")), ("engine", col("engine")), ("workload", col("workload")),
            ("clients", col("clients")), ("QD", col("queue_depth"))]
    text = [f"# Benchmark suite results, {ctx.started}\n",
            f"- Command: `{ctx.command}`",
            f"- Machine: {ctx.machine}",
            f"- Dataset: pgbench scale {args.scale} imported with `pagectl import`, "
            f"{ctx.dataset_bytes / MIB:.0f} MiB of relation blocks ({ctx.blocks} blocks), "
            f"{tree_bytes(ctx.data) / MIB:.0f} MiB of layer files, in {ctx.data}",
            f"- Memory budget (cgroup {'v2 memory.max' if ctx.cgroup.v2 else 'v1 memory.limit_in_bytes'}"
            f"): {args.budget / MIB:.0f} MiB"
            + ("" if ctx.cgroup.available else " -- NOT ENFORCED: no writable memory cgroup"),
            f"- page_cache_size {args.page_cache / MIB:.0f} MiB; {args.seconds} s per run, "
            f"{args.warmup} s warm-up where stated"
            + (f"; server config overrides: {', '.join(args.server_config)}"
               if args.server_config else ""),
            "- Server CPU is the pageserver process's user+system time over the run; data IOs "
            "per request are the read path's data-block reads (`ps_timeline_data_reads_total`, "
            "coalesced IOs, index blocks excluded) per request; RSS peak is the process's VmHWM (it is restarted per run).\n"]
    if args.smoke:
        text.append("**Smoke configuration: tiny dataset, ~1 s runs. The figures mean nothing.**\n")
    phys, _ = physical_summary(ctx)
    if phys:
        text += ["## Physical limit: fio vs pagebench, direct + io-uring\n", commands("physical"),
                 phys]
    if ctx.results.of("matrix"):
        text += ["## Matrix (confined to the budget, cold start per cell)\n", commands("matrix"),
                 md_table(ctx.results.of("matrix"), cell + RUN_COLS)]
    if ctx.results.of("sweep"):
        text += ["## Working-set sweep\n", commands("sweep"),
                 md_table(ctx.results.of("sweep"), [("working set MiB", col("working_set_mib")),
                                                    ("mode", col("mode"))] + RUN_COLS +
                          [("cgroup peak MiB", col("cgroup_peak_mib")), ("note", col("note"))])]
    if ctx.results.of("noisy"):
        text += ["## Noisy neighbour\n", commands("noisy"), noisy_summary(args, ctx),
                 md_table(ctx.results.of("noisy"), [("mode", col("mode"))] + RUN_COLS +
                          [("note", col("note"))])]
    peers = peers_summary(ctx)
    if peers:
        text += ["## Peers at equal memory (in-process)\n", commands("peers"), peers]
    if ctx.results.of("padding"):
        text += [f"## Latency padding ({args.padding})\n", commands("padding"),
                 md_table(ctx.results.of("padding"), [("padding", col("padding")),
                                                      ("clients", col("clients"))] + RUN_COLS)]
    mem = memory_summary(args, ctx)
    if mem:
        text += ["## Memory\n", mem]
    if plots:
        text += ["## Plots\n"] + [f"![{p}]({p})\n" for p in plots]
    with open(os.path.join(ctx.out, "summary.md"), "w") as f:
        f.write("\n".join(text))


# --------------------------------------------------------------------------
# Main


class Context:
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default="build/release")
    p.add_argument("--out", help="results directory (default bench/results/<timestamp>)")
    p.add_argument("--dataset-dir", default=os.environ.get("PS_BENCH_DIR",
                                                           "/var/tmp/pageserver-bench"))
    p.add_argument("--sections", default=",".join(SECTIONS))
    p.add_argument("--scale", type=int, default=100, help="pgbench scale of the dataset")
    p.add_argument("--budget", type=parse_size, default=parse_size("512MiB"),
                   help="memory cgroup limit of the confined runs")
    p.add_argument("--page-cache", type=parse_size, default=parse_size("64MiB"))
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--repeat", type=int, default=3, help="repeats of the physical section")
    p.add_argument("--clients", default="1,8,32")
    p.add_argument("--run-length", type=int, default=8, help="blocks per sequential run")
    p.add_argument("--working-sets", default="64MiB,128MiB,256MiB,384MiB,512MiB,1GiB,2GiB")
    p.add_argument("--sweep-clients", type=int, default=8)
    p.add_argument("--noisy-seconds", type=float, default=60)
    p.add_argument("--noisy-working-set", type=parse_size, default=parse_size("256MiB"))
    p.add_argument("--noisy-bytes", type=parse_size, default=parse_size("320MiB"),
                   help="memory the neighbour allocates and keeps touching")
    p.add_argument("--padding", default="80us/250us", help="latency profile p50/p99")
    p.add_argument("--server-config", action="append", default=[], metavar="KEY=VALUE",
                   help="a pageserver config override for every server of the run "
                        "(repeatable; TOML value, e.g. pipeline_depth=1)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny dataset and ~1 s runs: checks the pipeline, measures nothing")
    args = p.parse_args(argv)
    if args.smoke:
        args.scale, args.seconds, args.warmup, args.repeat = 1, 1, 0.5, 1
        args.clients, args.noisy_seconds = "1,4", 3
        args.working_sets = "1MiB,4MiB"
        args.noisy_working_set, args.noisy_bytes = 4 * MIB, 32 * MIB
        args.budget = max(args.budget, parse_size("2GiB"))  # sanitizer builds need room
    args.clients = [int(c) for c in args.clients.split(",")]
    args.working_sets = [parse_size(w) for w in args.working_sets.split(",")]
    args.sections = [s for s in args.sections.split(",") if s]
    for item in args.server_config:
        if "=" not in item or not item.split("=", 1)[0].strip():
            p.error(f"--server-config {item!r}: expected KEY=VALUE")
    for s in args.sections:
        if s not in SECTIONS:
            p.error(f"unknown section {s!r}; sections: {', '.join(SECTIONS)}")
    bins = {"pageserver": "server/pageserver", "pagectl": "tools/pagectl/pagectl",
            "pagebench": "tools/pagebench/pagebench", "peer_bench": "bench/peer_bench"}
    args.dataset_dir = os.path.abspath(args.dataset_dir)
    args.bin = {k: os.path.abspath(os.path.join(args.build_dir, v)) for k, v in bins.items()}
    for k, path in args.bin.items():
        if k == "peer_bench" and "peers" not in args.sections:
            continue
        if not os.access(path, os.X_OK):
            p.error(f"{path} is missing: build the {k} target in {args.build_dir}")
    if "physical" in args.sections and shutil.which("fio") is None:
        p.error("fio is not installed (scripts/install-deps.sh installs it)")
    return args


def main(argv):
    args = parse_args(argv)
    ctx = Context()
    ctx.started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ctx.command = " ".join([os.path.relpath(sys.argv[0])] + argv)
    stamp = ctx.started.replace(":", "").replace("-", "")
    ctx.out = os.path.abspath(args.out or os.path.join("bench", "results", stamp))
    os.makedirs(os.path.join(ctx.out, "logs"), exist_ok=True)
    os.makedirs(args.dataset_dir, exist_ok=True)
    ctx.data = prepare_dataset(args, ctx.out)
    ctx.dataset_root = os.path.dirname(ctx.data)
    ctx.machine = machine_description(ctx.data)
    ctx.cgroup = MemoryCgroup(f"pageserver-bench-{os.getpid()}")
    ctx.results = Results(ctx.out)
    ctx.series = {}
    # The dataset's relation blocks, as pagebench sees them (one scan-free probe).
    srv = Server(args, ctx.data, ctx.out, "discover", "direct", "std-fs")
    try:
        probe, _ = pagebench(args, srv, ctx.out, "discover", clients=1, qd=1, seconds=0.2)
    finally:
        srv.stop()
    ctx.blocks = sum(t["blocks"] for t in probe["targets"])
    ctx.dataset_bytes = ctx.blocks * PAGE
    log(f"results in {ctx.out}; machine: {ctx.machine}")
    log(f"dataset {ctx.dataset_bytes / MIB:.0f} MiB of blocks, budget {args.budget / MIB:.0f} MiB"
        + (f", cgroup {ctx.cgroup.path}" if ctx.cgroup.available else ", no cgroup"))
    try:
        for s in args.sections:
            log(f"== {s}")
            SECTIONS[s](args, ctx)
    finally:
        plots = make_plots(args, ctx)
        write_summary(args, ctx, plots)
        ctx.cgroup.remove()
    missing = [s for s in args.sections if not ctx.results.of(s)]
    if missing:
        log(f"FAILED: no results from {', '.join(missing)}")
        return 1
    expected = sum({"sweep": 2, "noisy": 1, "matrix": 1, "peers": 1}.get(s, 0)
                   for s in args.sections)
    if shutil.which("gnuplot") and len(plots) < expected:
        log(f"FAILED: {len(plots)} plots written, expected {expected}")
        return 1
    log(f"done: {ctx.out}/summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""All benchmarks in one table: every figure next to a baseline measured in the same run.

The machine is shared, so absolute times are noise: each row shows a value, a baseline taken in
the same run on the same host, their ratio, the target and whether it is met.

    .venv/bin/python bench/run.py                 # everything (~3-4 minutes)
    .venv/bin/python bench/run.py --quick         # a short run (~1 minute)
    .venv/bin/python bench/run.py --only latency  # one section: latency, http, cold or growth
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEV_SET = ROOT / "tests" / "data" / "dev_questions.yaml"
PYTHON = sys.executable
SECTIONS = ("latency", "http", "cold", "growth")
NOW = datetime(2021, 9, 25, 10, tzinfo=ZoneInfo("Asia/Shanghai"))  # inside the campaign month
WECHAT_TOKEN = "bench-token"
COLD_QUESTION = "总结材料什么时候截止"
SCORE_TOLERANCE = 1e-9  # fast and sklearn scores are the same floats up to summation order


@dataclass
class Row:
    """One line of the results table."""

    metric: str
    value: str
    baseline: str = "—"
    ratio: str = "—"
    target: str = "—"
    met: str = "info"

    def cells(self) -> list[str]:
        """The row's cells in table order."""
        return [self.metric, self.value, self.baseline, self.ratio, self.target, self.met]


@dataclass
class Config:
    """Sizes of one run: the default run and --quick differ only here."""

    quick: bool
    latency_rounds: int
    http_count: int
    http_duration: float
    http_concurrency: int
    cold_runs: int
    growth_sizes: tuple[int, ...]
    growth_rounds: int
    rss_pid_hwm: dict[str, float] = field(default_factory=dict)  # filled by http, read by cold


def make_config(quick: bool) -> Config:
    """Full run: statistically useful; quick: enough to prove every path works."""
    if quick:
        return Config(True, 5, 300, 5.0, 32, 3, (300, 1000), 1)
    return Config(False, 30, 10000, 20.0, 32, 5, (1000, 10000), 5)


# -- helpers --------------------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile: no interpolation, so p99 is a latency a request really had."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ratio(value: float, baseline: float) -> str:
    """value / baseline, printed the same way in every row."""
    if not baseline or baseline != baseline or value != value:
        return "—"
    return f"{value / baseline:.2f}×"


def verdict(ok: bool) -> str:
    """The table's last column."""
    return "met" if ok else "NOT met"


def load_questions() -> tuple[list[str], Path]:
    """The development questions the project keeps."""
    path = DEV_SET
    cases = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [str(c["q"]) for c in cases if isinstance(c, dict) and str(c.get("q", "")).strip()], path


def load_dialogues() -> list[list[str]]:
    """The development conversations the project keeps: each a list of turns sent one after another."""
    cases = yaml.safe_load((ROOT / "tests" / "data" / "dev_dialogues_v2.yaml").read_text(encoding="utf-8")) or []
    return [[str(t) for t in c["turns"]] for c in cases if isinstance(c, dict) and c.get("turns")]


def steady_p99(rounds: list[list[float]], blocks: int = 5) -> float:
    """p99 per block of rounds, median over blocks: one burst of other work on the box cannot set it alone."""
    size = max(1, len(rounds) // blocks)
    groups = [sum(rounds[i : i + size], []) for i in range(0, len(rounds) - size + 1, size)]
    return statistics.median(percentile(g, 99) for g in groups)


def timed_ms(fn: Callable[[str], object], items: list, out: list[float]) -> None:
    """Call fn on every item, appending each call's time in milliseconds."""
    clock = time.perf_counter
    for item in items:
        t0 = clock()
        fn(item)
        out.append((clock() - t0) * 1000)


def free_port() -> int:
    """A port nobody listens on right now, so parallel runs do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bot_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment without any BOT_* setting from the caller: no Telegram, no remote API, no rate limit.

    The load comes from 97 simulated users far faster than people type, which the per-user limit would refuse.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(BOT_DB=str(tmp / "bot.sqlite3"), BOT_RATE_LIMIT="off", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll until the server answers, failing early if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer {url} within {timeout:.0f} s")


def stop(proc: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL if the process ignores it: nothing may outlive the benchmark."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process: unlike wall time, other work on the box does not inflate it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set size of a live process, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- 1. latency -----------------------------------------------------------------------------------


def same_ranking(fast: list[tuple[str, float]], ref: list[tuple[str, float]]) -> tuple[bool, float]:
    """Same scores position by position, same targets except within exact ties; and the largest gap."""
    if len(fast) != len(ref):
        return False, float("inf")
    gap = max((abs(a[1] - b[1]) for a, b in zip(fast, ref, strict=True)), default=0.0)
    if gap > SCORE_TOLERANCE:
        return False, gap
    for i, ((t1, s1), (t2, _)) in enumerate(zip(fast, ref, strict=True)):
        if t1 == t2:
            continue
        tied = {t for t, s in fast if abs(s - s1) <= SCORE_TOLERANCE} | {
            t for t, s in ref if abs(s - s1) <= SCORE_TOLERANCE
        }
        at_cut = i >= len(fast) - 1 or abs(fast[-1][1] - s1) <= SCORE_TOLERANCE
        if not ({t1, t2} <= tied or at_cut):
            return False, gap
    return True, gap


def section_latency(cfg: Config) -> list[Row]:
    """Answer p50/p99 in process next to jieba.lcut; fast path vs scikit-learn agreement and cost."""
    import jieba

    from bot.core.model import Incoming
    from bot.service import load_engine

    questions, source = load_questions()
    engine = load_engine(ROOT / "knowledge", ROOT / "intents.yaml")
    jieba.initialize()
    answer = lambda q: engine.answer(Incoming(q, "bench"), NOW)  # noqa: E731
    for q in questions:  # warm both paths (regex caches, numpy dispatch)
        answer(q)
        jieba.lcut(q)
    dialogues = load_dialogues()

    def converse(turns: list[str], out: list[float]) -> None:
        """One conversation, the context carried from turn to turn as every channel carries it."""
        context = None
        for turn in turns:
            t0 = time.perf_counter()
            _, context = engine.respond(Incoming(turn, "bench"), NOW, context)
            out.append((time.perf_counter() - t0) * 1000)

    for turns in dialogues:
        converse(turns, [])
    answer_rounds: list[list[float]] = []
    cut_rounds: list[list[float]] = []
    turn_rounds: list[list[float]] = []
    for _ in range(cfg.latency_rounds):  # alternate, so drift in machine load hits all alike
        answer_rounds.append([])
        cut_rounds.append([])
        turn_rounds.append([])
        timed_ms(answer, questions, answer_rounds[-1])
        timed_ms(jieba.lcut, questions, cut_rounds[-1])
        for turns in dialogues:
            converse(turns, turn_rounds[-1])
    answers, cuts, turns_ms = sum(answer_rounds, []), sum(cut_rounds, []), sum(turn_rounds, [])

    index = engine.index
    analyses = [index.analyze(q) for q in questions]
    agree = 0
    worst = 0.0
    for a in analyses:
        ok, gap = same_ranking(index.search(a), index.reference_search(a))
        agree += ok
        worst = max(worst, gap)
    fast: list[float] = []
    ref: list[float] = []
    for _ in range(max(1, cfg.latency_rounds // 3)):
        timed_ms(index.search, analyses, fast)
        timed_ms(index.reference_search, analyses, ref)

    p50, p99 = percentile(answers, 50), steady_p99(answer_rounds)
    t50, t99 = percentile(turns_ms, 50), steady_p99(turn_rounds)
    c50, c99 = percentile(cuts, 50), steady_p99(cut_rounds)
    f50, r50 = percentile(fast, 50), percentile(ref, 50)
    n = f"{len(questions)} q × {cfg.latency_rounds}"
    print(
        f"latency: {n} from {source.name}; pooled p99 answer {percentile(answers, 99):.3f} ms, "
        f"jieba {percentile(cuts, 99):.3f} ms (table: median of per-block p99); "
        f"fast/sklearn agree on {agree}/{len(analyses)}, max |Δscore| {worst:.1e}"
    )
    return [
        Row(
            f"answer p50 ms ({n}) vs jieba.lcut",
            f"{p50:.3f}",
            f"{c50:.3f}",
            ratio(p50, c50),
            "≤ 0.25 ms",
            verdict(p50 <= 0.25),
        ),
        Row(
            "answer p99 ms (median of 5 block p99s) vs jieba.lcut",
            f"{p99:.3f}",
            f"{c99:.3f}",
            ratio(p99, c99),
            "≤ 1 ms",
            verdict(p99 <= 1.0),
        ),
        Row(
            f"conversation turn p50 ms ({len(dialogues)} dialogues × {cfg.latency_rounds}, context carried) vs jieba.lcut",
            f"{t50:.3f}",
            f"{c50:.3f}",
            ratio(t50, c50),
            "≤ 0.25 ms",
            verdict(t50 <= 0.25),
        ),
        Row(
            "conversation turn p99 ms (median of 5 block p99s) vs jieba.lcut",
            f"{t99:.3f}",
            f"{c99:.3f}",
            ratio(t99, c99),
            "≤ 1 ms",
            verdict(t99 <= 1.0),
        ),
        Row(
            "fast search = sklearn reference (ranking, scores)",
            f"{agree}/{len(analyses)}",
            f"max Δ {worst:.0e}",
            "—",
            "all questions",
            verdict(agree == len(analyses)),
        ),
        Row(
            "sklearn reference_search p50 ms vs fast search",
            f"{r50:.3f}",
            f"{f50:.3f}",
            ratio(r50, f50),
            "— (why the fast path)",
            "info",
        ),
    ]


# -- 2. HTTP --------------------------------------------------------------------------------------


def start_bot(tmp: Path) -> tuple[subprocess.Popen, str]:
    """`run_bot.py serve` on a free port with a temp SQLite file and plaintext WeChat switched on."""
    port = free_port()
    env = bot_env(tmp, BOT_WECHAT_TOKEN=WECHAT_TOKEN)
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [PYTHON, str(ROOT / "run_bot.py"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return proc, f"http://127.0.0.1:{port}"


def start_bare(tmp: Path) -> tuple[subprocess.Popen, str]:
    """The one-handler aiohttp baseline on another free port."""
    port = free_port()
    log = (tmp / "bare.log").open("wb")
    proc = subprocess.Popen(
        [PYTHON, str(BENCH / "bare_server.py"), str(port)],
        cwd=ROOT,
        env=bot_env(tmp),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return proc, f"http://127.0.0.1:{port}"


def run_load(
    url: str, mode: str, questions_file: Path, cfg: Config, check: bool, count: int | None = None
) -> dict:
    """One load phase from a separate client process; `check` verifies reply bodies (the bot, not the bare server)."""
    count = cfg.http_count if count is None else count
    cmd = [
        PYTHON,
        str(BENCH / "http_load.py"),
        url,
        mode,
        str(questions_file),
        "--concurrency",
        str(cfg.http_concurrency),
        "--count",
        str(count),
        "--duration",
        str(cfg.http_duration),
        "--warmup",
        str(min(200, max(50, count // 10))),
        "--token",
        WECHAT_TOKEN,
    ]
    if check:
        cmd.append("--check")
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=cfg.http_duration + 90, cwd=ROOT
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load client failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def serve_and_load(
    cfg: Config, modes: tuple[str, ...], count: int | None = None
) -> tuple[dict[str, dict], dict[str, float]]:
    """Start the bot and the bare server, load each mode against both (alternating), read peak RSS."""
    questions, _ = load_questions()
    results: dict[str, dict] = {}
    rss: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-http-") as name:
        tmp = Path(name)
        qfile = tmp / "questions.json"
        qfile.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
        bot: subprocess.Popen | None = None
        bare: subprocess.Popen | None = None
        try:
            bot, bot_url = start_bot(tmp)
            bare, bare_url = start_bare(tmp)
            wait_ready(bot_url + "/healthz", bot)
            wait_ready(bare_url + "/healthz", bare)
            for mode in modes:
                for key, proc, url, check in (
                    (f"bare-{mode}", bare, bare_url, False),
                    (mode, bot, bot_url, True),
                ):
                    cpu = cpu_seconds(proc.pid)
                    results[key] = run_load(url, mode, qfile, cfg, check, count)
                    sent = results[key]["completed"] + results[key]["warmup"]
                    results[key]["cpu_ms"] = (cpu_seconds(proc.pid) - cpu) * 1000 / max(1, sent)
            rss["bot"] = vm_hwm_mb(bot.pid)
            rss["bare"] = vm_hwm_mb(bare.pid)
        except Exception:
            log = tmp / "serve.log"
            if log.exists():
                sys.stderr.write(
                    "--- serve.log (tail) ---\n" + log.read_text(errors="replace")[-3000:] + "\n"
                )
            raise
        finally:
            stop(bot)
            stop(bare)
    return results, rss


def section_http(cfg: Config) -> list[Row]:
    """Requests/s and p99 of /api/ask and /wechat under 32 in flight, against a bare aiohttp handler."""
    results, rss = serve_and_load(cfg, ("ask", "wechat"))
    cfg.rss_pid_hwm.update(rss)
    rows: list[Row] = []
    non2xx = 0
    bad = 0
    for mode, path in (("ask", "POST /api/ask"), ("wechat", "POST /wechat")):
        r, b = results[mode], results[f"bare-{mode}"]
        share = r["rps"] / b["rps"] if b["rps"] else 0.0
        rows.append(
            Row(
                f"{path} requests/s vs bare handler",
                f"{r['rps']:.0f}",
                f"{b['rps']:.0f}",
                ratio(r["rps"], b["rps"]),
                "≥ 0.50× bare",
                verdict(share >= 0.5),
            )
        )
        rows.append(
            Row(
                f"{path} p99 ms vs bare handler",
                f"{r['p99']:.1f}",
                f"{b['p99']:.1f}",
                ratio(r["p99"], b["p99"]),
                "≤ 50 ms",
                verdict(r["p99"] <= 50),
            )
        )
        rows.append(
            Row(
                f"{path} server CPU ms/request vs bare handler",
                f"{r['cpu_ms']:.2f}",
                f"{b['cpu_ms']:.2f}",
                ratio(r["cpu_ms"], b["cpu_ms"]),
            )
        )
        non2xx += r["non2xx"]
        bad += r["bad_replies"]
        print(
            f"http {path}: {r['completed']} requests in {r['elapsed']:.1f} s, statuses {r['statuses']}, "
            f"errors {r['errors']}; bare: {b['completed']} in {b['elapsed']:.1f} s"
        )
    bare_non2xx = results["bare-ask"]["non2xx"] + results["bare-wechat"]["non2xx"]
    rows.append(
        Row(
            "non-2xx responses (both routes)",
            str(non2xx),
            str(bare_non2xx),
            "—",
            "0",
            verdict(non2xx == 0),
        )
    )
    rows.append(Row("2xx replies without an answer", str(bad), "—", "—", "0", verdict(bad == 0)))
    return rows


# -- 3. cold start --------------------------------------------------------------------------------


def time_to_output(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds from launching a fresh process to its first line of output."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    proc.stdout.read()
    proc.wait(timeout=60)
    if proc.returncode != 0 or not line.strip():
        raise RuntimeError(f"{cmd[1:]} exited {proc.returncode} with output {line!r}")
    return elapsed


def section_cold(cfg: Config) -> list[Row]:
    """A fresh `run_bot.py ask` next to a fresh jieba.initialize(); peak RSS of the serving process."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as name:
        env = bot_env(Path(name))
        ask = [PYTHON, str(ROOT / "run_bot.py"), "ask", COLD_QUESTION]
        bare = [PYTHON, "-c", "import jieba; jieba.initialize(); print('ready', flush=True)"]
        time_to_output(ask, env)  # warm-up: writes jieba's cache, fills the page cache
        time_to_output(bare, env)
        asks: list[float] = []
        inits: list[float] = []
        for _ in range(cfg.cold_runs):  # interleaved, so both see the same background load
            asks.append(time_to_output(ask, env))
            inits.append(time_to_output(bare, env))
    a, b = statistics.median(asks), statistics.median(inits)
    rows = [
        Row(
            f"cold start: run_bot.py ask, s (median of {cfg.cold_runs}) vs import jieba + initialize",
            f"{a:.2f}",
            f"{b:.2f}",
            ratio(a, b),
            "≤ 1.5×",
            verdict(a <= 1.5 * b),
        )
    ]
    rss = cfg.rss_pid_hwm
    if not rss:  # run alone: measure a short serving run now
        _, rss = serve_and_load(cfg, ("ask", "wechat"), count=min(cfg.http_count, 500))
    rows.append(
        Row(
            "serving process peak RSS MB (VmHWM) vs bare aiohttp",
            f"{rss['bot']:.0f}",
            f"{rss['bare']:.0f}",
            ratio(rss["bot"], rss["bare"]),
            "≤ 150 MB",
            verdict(rss["bot"] <= 150),
        )
    )
    return rows


# -- 4. growth ------------------------------------------------------------------------------------


def section_growth(cfg: Config) -> list[Row]:
    """Build, reload and answer times on synthetic knowledge of growing size, next to the real notice."""
    from bot.core.model import Incoming
    from bot.knowledge.load import load_knowledge
    from bot.service import load_engine

    sys.path.insert(0, str(BENCH))
    from synth import write_synthetic

    questions, _ = load_questions()

    def measure(
        knowledge_dir: Path, intents: Path, asked: list[str]
    ) -> tuple[float, float, float, int]:
        t0 = time.perf_counter()
        engine = load_engine(knowledge_dir, intents)
        build = time.perf_counter() - t0
        fresh = load_knowledge(knowledge_dir, intents)
        t0 = time.perf_counter()
        engine.swap(fresh)
        swap = time.perf_counter() - t0
        answer = lambda q: engine.answer(Incoming(q, "bench"), NOW)  # noqa: E731
        for q in asked[:50]:
            answer(q)
        rounds: list[list[float]] = []
        for _ in range(cfg.growth_rounds):
            rounds.append([])
            timed_ms(answer, asked, rounds[-1])
        return build, swap, steady_p99(rounds), len(engine.knowledge.units)

    real_k, real_i = ROOT / "knowledge", ROOT / "intents.yaml"
    load_engine(
        real_k, real_i
    )  # jieba's dictionary loads once per process: keep it out of the timings
    base_build, base_swap, base_p99, base_units = measure(real_k, real_i, questions)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as name:
        for size in cfg.growth_sizes:
            k_dir, i_file, samples = write_synthetic(Path(name) / str(size), size)
            asked = questions + samples[:200]
            build, swap, p99, units = measure(k_dir, i_file, asked)
            label = f"{units // 1000}k" if units >= 1000 else str(units)
            print(
                f"growth {label}: {units} units, {len(list(k_dir.glob('*.yaml'))) - 1} notices, build {build:.2f} s, swap {swap:.2f} s, answer p99 {p99:.2f} ms over {len(asked)} questions"
            )
            base_note = f"real ({base_units} units)"
            rows.append(
                Row(
                    f"build {label} units: load_engine s vs {base_note}",
                    f"{build:.2f}",
                    f"{base_build:.2f}",
                    ratio(build, base_build),
                )
            )
            rows.append(
                Row(
                    f"reload {label} units: Engine.swap s vs {base_note}",
                    f"{swap:.2f}",
                    f"{base_swap:.2f}",
                    ratio(swap, base_swap),
                )
            )
            is_target = units >= 10000
            rows.append(
                Row(
                    f"answer p99 ms at {label} units vs {base_note}",
                    f"{p99:.2f}",
                    f"{base_p99:.2f}",
                    ratio(p99, base_p99),
                    "≤ 10 ms at 10k" if is_target else "—",
                    verdict(p99 <= 10) if is_target else "info",
                )
            )
    return rows


# -- table ----------------------------------------------------------------------------------------


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table, ready to paste into the README."""
    head = ["metric", "value", "baseline", "ratio", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def describe_machine(cfg: Config, sections: list[str]) -> str:
    """One line saying where and how the figures were taken, since they mean nothing elsewhere."""
    try:
        load = "load avg " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "load avg n/a"
    return (
        f"{datetime.now():%Y-%m-%d %H:%M} · Python {platform.python_version()} · {os.cpu_count()} CPUs · {load} · "
        f"{'quick' if cfg.quick else 'full'} run · sections: {', '.join(sections)}"
    )


RUNNERS: dict[str, Callable[[Config], list[Row]]] = {
    "latency": section_latency,
    "http": section_http,
    "cold": section_cold,
    "growth": section_growth,
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections, print one table, write it to --out; exit 1 only if a section crashed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only this section (repeatable)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="short run (~1 minute), for smoke tests"
    )
    parser.add_argument(
        "--out", default=str(BENCH / "results.md"), help="where to write the Markdown table"
    )
    parser.add_argument(
        "--strict", action="store_true", help="also exit 1 when a target is not met"
    )
    args = parser.parse_args(argv)
    cfg = make_config(args.quick)
    sections = [s for s in SECTIONS if not args.only or s in args.only]
    rows: list[Row] = []
    crashed = False
    started = time.perf_counter()
    for section in sections:
        t0 = time.perf_counter()
        print(f"== {section} ...", flush=True)
        try:
            rows += RUNNERS[section](cfg)
        except Exception as exc:
            crashed = True
            traceback.print_exc()
            rows.append(
                Row(
                    f"{section} section",
                    f"crashed: {type(exc).__name__}: {exc}"[:160],
                    met="NOT met",
                )
            )
        print(f"== {section} done in {time.perf_counter() - t0:.1f} s", flush=True)
    header = describe_machine(cfg, sections)
    table = markdown(rows)
    print()
    print(header)
    print()
    print(table)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "# Benchmark results\n\n"
        "Produced by `make bench` (`.venv/bin/python bench/run.py`). Absolute times depend on the machine "
        "and its load; read the ratio to the baseline measured in the same run.\n\n"
        f"{header}\n\n{table}\n",
        encoding="utf-8",
    )
    if crashed:
        return 1
    if args.strict and any(r.met == "NOT met" for r in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

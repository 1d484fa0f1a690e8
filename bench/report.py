"""The figures of bench/README.md, with PASS / MISS per target of issue 6, from saved runs.

    python3 -m bench.report [RUN.json] [--scale SCALE.json] [--peer PEER.json]

RUN.json is a pytest-benchmark file (``--benchmark-save`` / ``--benchmark-json``; default:
the newest under ``bench/baseline``), SCALE.json what ``python3 -m bench.scale --json``
wrote, PEER.json the scipy.sparse peer's full run (``bench/baseline/peer_full_run.json``).
Prints Markdown. Every ratio comes from one run; ``others_cpu`` is the CPU (in cores)
that other processes took during a benchmark: above ~0.2, re-run that group.
"""

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "baseline"


def verdict(ok):
    return "PASS" if ok else "MISS"


def newest_run():
    runs = sorted(BASELINE.glob("*/*.json"), key=lambda p: p.name)
    return runs[-1] if runs else None


def by_group(run):
    groups = {}
    for b in run["benchmarks"]:
        groups.setdefault(b["group"], []).append(b)
    return groups


def param(b):
    return b["name"].split("[", 1)[1].rstrip("]") if "[" in b["name"] else b["name"]


def kernels(groups):
    """Target 1's table. The verdict is taken on the kernel the primal-dual loop runs:
    ``pd_pair`` (two iterations per pass, figures per iteration) where the run has it."""
    rows, ok_all = [], True
    for g, benches in sorted(groups.items()):
        if not g.startswith("pd_iteration vs copy"):
            continue
        ref = next(b for b in benches if b["extra_info"].get("reference"))
        runs_pair = any(param(b).endswith("pair") for b in benches)
        for b in benches:
            if b is ref:
                continue
            e, r = b["extra_info"], ref["extra_info"]
            pct = e.get("pct_of_copy", 100 * e["GB_per_s"] / r["GB_per_s"])
            inter = e.get("pct_of_copy_interleaved", pct)
            ok = min(pct, inter) >= 60
            pair = param(b).endswith("pair")
            if pair == runs_pair:
                ok_all &= ok
            kernel = "pd_pair (per iteration)" if pair else "pd_iteration"
            rows.append(f"| {g.split('copy ')[1]} | {kernel} | {r['GB_per_s']:.1f} | "
                        f"{e['GB_per_s']:.1f} | {pct:.0f}% | {inter:.0f}% | "
                        f"{e['ns_per_pixel']:.2f} | "
                        f"{max(e.get('others_cpu', 0), r.get('others_cpu', 0)):.2f} | "
                        f"{verdict(ok)} |")
    if not rows:
        return None
    return "\n".join([
        "| size, dtype | kernel | copy GB/s | GB/s (9 arrays per iteration) | % of copy "
        "| % of copy, interleaved | ns/pixel/iteration | others_cpu | >= 60% |",
        "|---|---|---|---|---|---|---|---|---|", *rows]), ok_all


def paper(groups):
    for g, benches in groups.items():
        if not g.startswith("paper scheme"):
            continue
        rows, ok = [], None
        for b in benches:
            e = b["extra_info"]
            sp = e.get("speedup_vs_peer", 1.0 if e.get("reference") else float("nan"))
            turns = e.get("speedup_vs_peer_interleaved")
            if param(b) == "fused-paper":  # judged on the lower of the two ratios
                ok = min(sp, turns if turns is not None else sp) >= 20
            rows.append(f"| {param(b)} | {b['stats']['min']:.3f} | "
                        f"{e['ms_per_ipiano_iteration']:.2f} | {e['us_per_pd_iteration']:.1f} | "
                        f"{e['pd_iterations']} | {sp:.1f}x | "
                        f"{f'{turns:.1f}x' if turns is not None else '-'} | "
                        f"{e.get('others_cpu', 0):.2f} |")
        return g, "\n".join([
            "| implementation | seconds (20 it.) | ms / iPiano it. | us / primal-dual it. "
            "| primal-dual it. | speed-up vs peer | in turns | others_cpu |",
            "|---|---|---|---|---|---|---|---|", *rows]), ok
    return None


def puppets(groups, peer_s):
    for g, benches in groups.items():
        if not g.startswith("puppets"):
            continue
        rows, best = [], None
        for b in benches:
            e, t = b["extra_info"], b["stats"]["min"]
            met = e["stationarity"] <= 1e-3
            if met and (best is None or t < best[1]):
                best = (param(b), t)
            vs = f"{peer_s / t:.0f}x" if peer_s else "-"
            rows.append(f"| {param(b)} | {e['iterations']} | {e['pd_iterations']:,} | "
                        f"{e['energy']:,.3f} | {e['stationarity']:.2g} | {t:.2f} | {vs} | "
                        f"{e.get('others_cpu', 0):.2f} |")
        return g, "\n".join([
            "| option | iterations | primal-dual it. | energy | stationarity | seconds "
            "| vs peer | others_cpu |",
            "|---|---|---|---|---|---|---|---|", *rows]), best
    return None


def compile_(groups):
    for g, benches in groups.items():
        if not g.startswith("fresh process"):
            continue
        for b in benches:
            e = b["extra_info"]
            if "import_s" in e:
                return e
    return None


def solver(groups):
    out = []
    for g, benches in sorted(groups.items()):
        if not (g.startswith("primal-dual iteration") or g.startswith("iPiano iteration")):
            continue
        ref = next(b for b in benches if b["extra_info"].get("reference"))
        for b in benches:
            if b is not ref:
                out.append(f"| {g} | {param(b)} | {b['stats']['min'] * 1e3:.2f} | "
                           f"{ref['stats']['min'] / b['stats']['min']:.0f}x |")
    if not out:
        return None
    return "\n".join(["| group | implementation | ms | vs NumPy reference |",
                      "|---|---|---|---|", *out])


def scale(s):
    lines = []
    t = s.get("time", [])
    ok = None
    if t:
        lines += ["| dtype | size | seconds | primal-dual it. | ns/pixel/iPiano it. "
                  "| ns/pixel/primal-dual it. | others_cpu |", "|---|---|---|---|---|---|---|"]
        ok = True
        for r in t:
            lines.append(f"| {r['dtype']} | {r['side']}x{r['side']} | {r['seconds']:.2f} | "
                         f"{r['pd_iterations']} | {r['ns_per_pixel_iteration']:.0f} | "
                         f"{r['ns_per_pixel_pd_iteration']:.2f} | "
                         f"{r.get('others_cpu', float('nan')):.2f} |")
        lines.append("")
        for dt in sorted({r["dtype"] for r in t}):
            v = [r["ns_per_pixel_iteration"] for r in t if r["dtype"] == dt]
            spread = max(v) / min(v) - 1
            v4 = [r["ns_per_pixel_iteration"] for r in t if r["dtype"] == dt
                  and r["side"] >= 2048]
            s4 = max(v4) / min(v4) - 1 if len(v4) > 1 else float("nan")
            ok &= spread <= 0.2
            lines.append(f"- {dt}: spread {spread:.0%} from 1 to 16 MP "
                         f"({verdict(spread <= 0.2)}), {s4:.0%} from 4 to 16 MP")
    m = s.get("memory")
    mem_ok = None
    if m:
        px = m["side"] ** 2
        mem_ok = m["peak"] <= 2.5e9
        lines += ["", f"- peak RSS of a {m['side']}x{m['side']} RGB {m['dtype']} fusion "
                  f"(max_iter {m['max_iter']}): {m['peak'] / 1e9:.2f} GB = "
                  f"{m['peak'] / px:.0f} bytes/pixel ({verdict(mem_ok)} <= 2.5 GB); "
                  f"{m['rss_before'] / 1e9:.2f} GB before the call (inputs, libraries)"]
        sites = s.get("memory_sites", [])
        if sites:
            lines.append("- live arrays in iteration 1 of channel 0 (tracemalloc):")
            for site in sites:
                if site[1] >= 1e6:
                    src = site[3] if len(site) > 3 else ""
                    lines.append(f"  - {site[1] / 1e6:.0f} MB: `{src}` ({site[0]})")
    return "\n".join(lines), ok, mem_ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?", type=Path)
    ap.add_argument("--scale", type=Path, default=BASELINE / "scale.json")
    ap.add_argument("--peer", type=Path, default=BASELINE / "peer_full_run.json")
    args = ap.parse_args(argv)
    run_path = args.run or newest_run()
    run = json.loads(run_path.read_text())
    groups = by_group(run)
    peer = json.loads(args.peer.read_text()) if args.peer.exists() else None
    peer_s = peer["seconds"] if peer else None
    mi = run.get("machine_info", {})
    print(f"Run {run_path.name}, {run.get('datetime', '')[:16]}, "
          f"{mi.get('cpu', {}).get('brand_raw', '')}, commit "
          f"{run.get('commit_info', {}).get('id', '')[:7]}"
          f"{' (dirty)' if run.get('commit_info', {}).get('dirty') else ''}\n")
    k = kernels(groups)
    if k:
        print(f"### 1. Kernel: one primal-dual iteration vs copy: {verdict(k[1])}\n\n{k[0]}\n")
    p = paper(groups)
    if p:
        print(f"### 2. Paper scheme vs the scipy.sparse peer ({p[0]}): "
              f"{verdict(bool(p[2]))}\n\n{p[1]}\n")
    pp = puppets(groups, peer_s)
    if pp:
        best = pp[2]
        head = "### 3. Full puppets runs"
        if best and peer_s:
            ratio = peer_s / best[1]
            head += (f": fastest to stationarity <= 1e-3 is {best[0]}, {best[1]:.2f} s, "
                     f"{ratio:.0f}x the peer's {peer_s:.0f} s: {verdict(ratio >= 100)}")
        print(f"{head}\n\n{pp[1]}\n")
    if args.scale.exists():
        sc = scale(json.loads(args.scale.read_text()))
        print(f"### 4. Scale: time {verdict(bool(sc[1]))}, memory {verdict(bool(sc[2]))}\n\n"
              f"{sc[0]}\n")
    c = compile_(groups)
    if c:
        st = c["import_s"] + c["first_call_s"]
        print(f"### 5. Start-up, fresh process, warm cache: {verdict(st < 2)}\n\n"
              f"import {c['import_s']:.2f} s, first `fuse` call {c['first_call_s']:.3f} s "
              f"(total {st:.2f} s); the first calls of all other options together "
              f"{c['all_options_s']:.3f} s\n")
    s = solver(groups)
    if s:
        print(f"### Fused kernels vs the NumPy reference (tests/reference.py)\n\n{s}\n")


if __name__ == "__main__":
    main()

"""The table, the floor and the targets that `train_speed.py` prints at the end of a run."""

import statistics

import speed_floor
from speed_workers import N_TRAIN

FLOP_PER_EPOCH = 6 * speed_floor.PARAMS * N_TRAIN
# (column title, reference system) of the "x reference" columns
REFERENCES = [("x layers", "tinynn-layers"), ("x Keras", "keras"), ("x PyTorch", "pytorch"),
              ("x jax-scan", "jax-scan")]


def epoch_s(result: dict) -> float:
    """A run's s/epoch: the median over its timed epochs."""
    return statistics.median(result["epoch_times"])


def ok_results(records: list) -> list:
    return [r["result"] for r in records if isinstance(r["result"], dict)]


def round_ratios(records: list, reference: list) -> "list[float]":
    """Per round, a system's s/epoch over the reference's (both runs of the same round)."""
    return [epoch_s(r["result"]) / epoch_s(k["result"])
            for r, k in zip(records, reference, strict=False)
            if isinstance(r["result"], dict) and isinstance(k["result"], dict)]


def ratio_text(ratios: "list[float]") -> str:
    if not ratios:
        return "-"
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}"
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def floor_summary(floors: list, batches: "list[int]") -> "tuple[float, dict]":
    """Print the floor block; return (roofline s/epoch, {batch: floor s/epoch})."""
    ok = ok_results(floors)
    if not ok:
        print(f"\nfloor: {floors[0]['result'] if floors else 'not measured'}")
        return float("nan"), {}
    print("\nNumPy's BLAS: " + "; ".join(ok[0]["blas"]))
    if any(r["flagged"] for r in floors):
        print("FLAGGED: the floor was measured while other processes used "
              + ", ".join(f"{max(r['others']):.2f}" for r in floors if r["flagged"])
              + " cores (or without a quiet window): the\n  GFLOP/s and GB/s below may be "
              "too low, and so the roofline and floor s/epoch too easy to beat")
    gf = statistics.median(r["sgemm_gflops"] for r in ok)
    roofline_s = FLOP_PER_EPOCH / (gf * 1e9)
    print(f"sgemm 1024^3: {gf:.0f} GFLOP/s (rounds: "
          f"{', '.join(str(round(r['sgemm_gflops'])) for r in ok)}) -> roofline "
          f"{roofline_s:.2f} s/epoch ({FLOP_PER_EPOCH / 1e12:.2f} TFLOP per epoch)")
    kinds = list(ok[0]["bandwidth_gbs"])
    bw = {k: statistics.median(r["bandwidth_gbs"][k] for r in ok) for k in kinds}
    best_bw = max(bw.values())
    print("stream bandwidth at Adam's 15.9 MB a step, GB/s: "
          + ", ".join(f"{k} {v:.0f}" for k, v in bw.items())
          + f" -> Adam {speed_floor.ADAM_BYTES / best_bw / 1e6:.3f} ms a step")
    floor = {}
    for batch in batches:
        one = statistics.median(r["batches"][str(batch)]["products_1t_s"] for r in ok)
        two = statistics.median(r["batches"][str(batch)]["products_2t_s"] for r in ok)
        gflop = ok[0]["batches"][str(batch)]["step_gflop"]
        steps = -(-N_TRAIN // batch)
        adam_s = speed_floor.ADAM_BYTES / (best_bw * 1e9)
        at_shapes = speed_floor.floor_epoch_s(one, two, best_bw, steps)
        # issue #15's floor: the products at the machine's peak sgemm, Adam at stream speed
        floor[batch] = steps * (gflop / gf + adam_s)
        print(f"batch {batch}: the 11 products ({gflop * 1e3:.2f} MFLOP) take "
              f"{one * 1e3:.3f} ms 1-thread ({gflop / one:.0f} GFLOP/s), {two * 1e3:.3f} ms "
              f"2-thread ({gflop / two:.0f} GFLOP/s) through NumPy's BLAS at these shapes "
              f"-> {steps} x ({min(one, two) * 1e3:.3f} + {adam_s * 1e3:.3f}) ms = "
              f"{at_shapes:.2f} s/epoch;\n  floor (the products at the {gf:.0f} GFLOP/s peak, "
              f"Adam at stream speed): {steps} x ({gflop / gf * 1e3:.3f} + {adam_s * 1e3:.3f})"
              f" ms = {floor[batch]:.2f} s/epoch")
    return roofline_s, floor


def report(runs: dict, floors: list, args) -> None:
    """Print the table. A system's s/epoch is the median over rounds of its per-run median; a
    ratio is the median of the ratios taken within each round (the machine's speed drifts
    between rounds, and both systems of a ratio ran close together in time)."""
    roofline_s, floor = floor_summary(floors, list(runs))
    print(f"{args.rounds} rounds x {args.epochs} timed epochs after a warm-up epoch; quiet "
          f"window {args.quiet_window:g} s < {args.quiet_cores:g} cores (wait <= "
          f"{args.quiet_timeout:g} s), contaminated > {args.contaminated_cores:g} cores, "
          f"<= {args.max_retries} retries\n")
    cols = ["batch", "system", "s/epoch (median)", "samples/s"] + [c for c, _ in REFERENCES] + [
        "% of roofline", "% of floor", "predict img/s", "peak RSS MB", "import s",
        "first fit s", "contaminated / runs", "retries"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    notes = set()
    for batch, by_system in runs.items():
        for system, records in by_system.items():
            ok = ok_results(records)
            if not ok:
                print(f"| {batch} | {system} | {records[0]['result']} |")
                continue
            notes.update(f"{system}: {r['note']}" for r in ok if r.get("note"))
            s = statistics.median(epoch_s(r) for r in ok)
            med = {k: statistics.median(r[k] for r in ok)
                   for k in ("predict_s", "peak_rss_mb", "import_s")}
            refs = [ratio_text(round_ratios(records, by_system.get(ref, [])))
                    for _, ref in REFERENCES]
            flag = "*" if any(r["flagged"] for r in records) else ""
            fl = f"{100 * floor[batch] / s:.0f}%" if batch in floor else "-"
            print(f"| {batch} | {system} | {s:.2f}{flag} | {N_TRAIN / s:,.0f} | "
                  + " | ".join(refs)
                  + f" | {100 * roofline_s / s:.0f}% | {fl} | {10_000 / med['predict_s']:,.0f} | "
                  f"{med['peak_rss_mb']:.0f} | {med['import_s']:.2f} | "
                  f"{ok[0]['first_fit_s']:.2f} | "
                  f"{sum(r['contaminated'] for r in records)} / "
                  f"{sum(r['attempts'] for r in records)} | "
                  f"{sum(r['attempts'] - 1 for r in records)} |")
    if any(r["flagged"] for by_system in runs.values() for recs in by_system.values()
           for r in recs):
        print("\n* at least one kept run was contaminated or started without a quiet window.")
    print("first fit: tinynn, the first fit (64 images), compiling with a cold numba cache in "
          "the first tinynn-numba run; the others, the first epoch's time beyond the median "
          "(tracing, XLA compiling).")
    for batch, by_system in runs.items():
        per_round = round_ratios(by_system.get("tinynn-numba", []),
                                 by_system.get("tinynn-layers", []))
        if per_round:
            print(f"batch {batch}: tinynn-numba / tinynn-layers per round: "
                  + ", ".join(f"{r:.2f}x" for r in per_round) + " (target <= 0.62x)")
    for note in sorted(notes):
        print(f"note: {note}")
    targets(runs, roofline_s, floor)


def _median_of(runs: dict, batch: int, system: str, key) -> "float | None":
    ok = ok_results(runs.get(batch, {}).get(system, []))
    return statistics.median(key(r) for r in ok) if ok else None


def verdict(name: str, value: "float | None", limit: float, at_most: bool, fmt: str,
            missing: str) -> str:
    """'name: met (figure)' / 'not met (figure)' / 'not measured (why)'."""
    if value is None:
        return f"- {name}: not measured ({missing})"
    met = value <= limit if at_most else value >= limit
    return f"- {name}: {'met' if met else 'not met'} ({fmt.format(value)})"


def targets(runs: dict, roofline_s: float, floor: dict) -> None:
    """Issue #15's targets, each met / not met with its figure."""
    print("\nTargets (issue #15), tinynn = tinynn-numba:")
    b32 = runs.get(32, {})
    for ref, limit in (("tinynn-layers", 0.62), ("keras", 0.22), ("pytorch", 0.35),
                       ("jax-scan", 0.75)):
        ratios = round_ratios(b32.get("tinynn-numba", []), b32.get(ref, []))
        why = next((f"{ref} {r['result']}" for r in b32.get(ref, [])
                    if not isinstance(r["result"], dict)),
                   f"needs tinynn-numba and {ref} at batch 32")
        print(verdict(f"batch 32: <= {limit:.2f}x {ref}",
                      statistics.median(ratios) if ratios else None, limit, True, "{:.2f}x",
                      why))
    s32 = _median_of(runs, 32, "tinynn-numba", epoch_s)
    print(verdict("batch 32: >= 50% of the floor",
                  100 * floor[32] / s32 if s32 and 32 in floor else None, 50, False, "{:.0f}%",
                  "needs tinynn-numba and the floor at batch 32"))
    s256 = _median_of(runs, 256, "tinynn-numba", epoch_s)
    print(verdict("batch 256: >= 90% of the sgemm roofline",
                  100 * roofline_s / s256 if s256 else None, 90, False, "{:.0f}%",
                  "needs tinynn-numba at batch 256"))
    rss = [_median_of(runs, b, s, lambda r: r["peak_rss_mb"]) for b in runs
           for s in ("tinynn-numba", "keras")]
    ours, keras = max(rss[0::2], default=None, key=lambda v: v or 0), \
        min((v for v in rss[1::2] if v), default=None)
    print(verdict("peak RSS <= 0.5x Keras's", ours / keras if ours and keras else None, 0.5,
                  True, "{:.2f}x", "needs tinynn-numba and keras"))
    imports = [r["import_s"] for b in runs for r in ok_results(runs[b].get("tinynn-numba", []))]
    print(verdict("import tinynn < 0.3 s", statistics.median(imports) if imports else None, 0.3,
                  True, "{:.2f} s", "needs tinynn-numba"))
    first = next(iter(runs.values()), {}).get("tinynn-numba", [])
    cold = ok_results(first[:1])
    print(verdict("first fit on a cold cache < 10 s", cold[0]["first_fit_s"] if cold else None,
                  10, True, "{:.2f} s", "needs tinynn-numba"))

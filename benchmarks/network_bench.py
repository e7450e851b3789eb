"""Network forward passes per second by batch size: the plain training network against the
evaluator's inference copy (batch norms folded, channels-last) in fp32, as a frozen graph and
as the traced graph the evaluator runs for fp32 on a CPU, in bf16 autocast and, on CPUs with
VNNI, quantized to int8. This is the table behind the evaluator's precision rules
(bf16 or int8 on a CPU only for large batches, and only where the CPU has the instructions).

Then the memory a trainer's graphs hold: resident memory added by GRAPHS successive networks
traced afresh (TorchScript frees none of them) against the same networks loaded into one
GraphSlot, as the trainer does once per iteration, and as int8 copies (what a `precision=int8`
trainer still makes afresh each iteration).

    move37 bench network [--seconds S] [--games connect4,go9]
"""

from __future__ import annotations

import time

import torch

import games
from engine.nets.cpu import cpu_has_native_bf16, cpu_has_vnni
from engine.nets.network import GraphSlot, NetworkConfig, PolicyValueNet, default_config, frozen, inference_copy, traced
from engine.nets.quantize import int8_copy
from games.random_play import random_game_observations

BATCHES = (1, 8, 32, 256)
GRAPHS = 30


def positions_per_second(model, x: torch.Tensor, seconds: float, bf16: bool) -> float:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        model(x)  # warm-up
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            model(x)
            n += 1
    return n * len(x) / (time.perf_counter() - t0)


def main(seconds: float = 1.0, names: list[str] | None = None) -> list[dict]:
    int8 = cpu_has_vnni()
    print(f"CPU, {torch.get_num_threads()} threads, native bf16: {'yes' if cpu_has_native_bf16() else 'no'}, "
          f"VNNI: {'yes' if int8 else 'no'}; positions per second")
    rows = []
    for name in names or ["connect4", "go9"]:
        game = games.make(name)
        for config in (NetworkConfig(blocks=4, channels=32), default_config(game)):
            net = PolicyValueNet(game.observation_shape, game.num_actions, config).eval()
            fused = inference_copy(net)
            example = torch.zeros(1, *game.observation_shape).contiguous(memory_format=torch.channels_last)
            graph, trace = frozen(fused, example), traced(fused, example)
            quantized = int8_copy(fused, torch.from_numpy(random_game_observations(game))) if int8 else None
            print(f"{name} {config.name}:  batch   plain fp32   folded fp32   frozen fp32   traced fp32   folded bf16" + ("   folded int8" * int8))
            for batch in BATCHES:
                x = torch.randn(batch, *game.observation_shape)
                xc = x.contiguous(memory_format=torch.channels_last)
                row = {"game": name, "network": config.name, "batch": batch,
                       "plain_fp32": positions_per_second(net, x, seconds, False),
                       "folded_fp32": positions_per_second(fused, xc, seconds, False),
                       "frozen_fp32": positions_per_second(graph, xc, seconds, False),
                       "traced_fp32": positions_per_second(trace, xc, seconds, False),
                       "folded_bf16": positions_per_second(fused, xc, seconds, True)}
                if quantized is not None:
                    row["folded_int8"] = positions_per_second(quantized, xc, seconds, False)
                rows.append(row)
                print(f"{'':{len(name) + len(config.name) + 3}}{batch:6d} {row['plain_fp32']:12.0f} "
                      f"{row['folded_fp32']:13.0f} {row['frozen_fp32']:13.0f} {row['traced_fp32']:13.0f} {row['folded_bf16']:13.0f}"
                      + (f" {row['folded_int8']:13.0f}" if quantized is not None else ""))
    for name in names or ["connect4", "go9"]:
        game = games.make(name)
        config = default_config(game)
        fresh, slot = graph_memory(game, config, False), graph_memory(game, config, True)
        quantized = graph_memory(game, config, False, int8=True)
        print(f"{name} {config.name}: {GRAPHS} successive networks add {fresh:.0f} MiB resident traced afresh, "
              f"{slot:.0f} MiB through one GraphSlot, {quantized:.0f} MiB as int8 copies (measured on any CPU)")
        rows.append({"game": name, "network": config.name, "graphs": GRAPHS, "fresh_mib": fresh, "slot_mib": slot,
                     "int8_mib": quantized})
    return rows


def graph_memory(game, config: NetworkConfig, slot: bool, int8: bool = False) -> float:
    """Resident MiB added by GRAPHS networks' fp32 graphs (one forward pass each), after one
    warm-up network: traced afresh each time, or loaded into one GraphSlot; or with `int8`, the
    int8 copies a `precision=int8` trainer makes once per iteration (quantized with FX, frozen:
    no slot holds them yet)."""
    import gc

    from training.run import resident_mb

    net = PolicyValueNet(game.observation_shape, game.num_actions, config).eval()
    example = torch.zeros(1, *game.observation_shape).contiguous(memory_format=torch.channels_last)
    holder = GraphSlot()
    calibration = torch.from_numpy(random_game_observations(game, 256)) if int8 else None
    kept = None
    for i in range(GRAPHS + 1):
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(0.99)
        fused = inference_copy(net)
        if int8:
            kept = int8_copy(fused, calibration)
        else:
            kept = holder.load(fused, example) if slot else traced(fused, example)
        with torch.inference_mode():
            kept(example)
        if i == 0:
            gc.collect()
            start = resident_mb()
    gc.collect()
    return resident_mb() - start


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Simulates a Hugging Face Trainer saving checkpoints, for watching ckptd work live.

Every --every seconds it writes checkpoint-N/ into the run directory the way the Trainer does:
the weights first (in chunks, over about a second), then optimizer and scheduler state, then
trainer_state.json last, with a train entry and an eval entry (eval_loss) for the step and
best_model_checkpoint pointing at the best so far. Stop it with Ctrl-C.

    scripts/fake-trainer.py demo/live/bert-run
"""
import argparse
import json
import os
import random
import time


def write_chunks(path, size, chunks, pause):
    with open(path, "wb") as f:
        for _ in range(chunks):
            f.write(os.urandom(size // chunks))
            f.flush()
            time.sleep(pause)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run directory (created if missing)")
    parser.add_argument("--every", type=float, default=4.0, help="seconds between saves")
    parser.add_argument("--steps", type=int, default=500, help="training steps between saves")
    parser.add_argument("--saves", type=int, default=20, help="how many checkpoints to write")
    parser.add_argument("--size-mb", type=float, default=4.0, help="size of the weights file")
    parser.add_argument(
        "--optimizer-mb",
        type=float,
        default=0.0,
        help="size of optimizer.pt (real optimizer state is often 2-6x the weights; "
        "what slim_after removes). Default: 4 KiB",
    )
    args = parser.parse_args()

    os.makedirs(args.run, exist_ok=True)
    random.seed(7)
    history, best = [], None
    for save in range(1, args.saves + 1):
        step = save * args.steps
        ckpt = os.path.join(args.run, f"checkpoint-{step}")
        os.makedirs(ckpt, exist_ok=True)
        print(f"step {step}: writing {ckpt}", flush=True)
        write_chunks(os.path.join(ckpt, "model.safetensors"), int(args.size_mb * 2**20), 8, 0.12)
        optimizer = int(args.optimizer_mb * 2**20) or 4096
        for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin"):
            with open(os.path.join(ckpt, name), "wb") as f:
                f.write(os.urandom(optimizer if name == "optimizer.pt" else 4096))
        eval_loss = round(2.0 / (1 + 0.3 * save) + random.uniform(-0.08, 0.08), 4)
        if best is None or eval_loss < best[0]:
            best = (eval_loss, ckpt)
        history.append({"epoch": save / 4, "loss": round(eval_loss * 1.1, 4), "step": step})
        history.append({"epoch": save / 4, "eval_loss": eval_loss, "step": step})
        state = {
            "best_metric": best[0],
            "best_model_checkpoint": best[1],
            "global_step": step,
            "log_history": history,
        }
        with open(os.path.join(ckpt, "trainer_state.json"), "w") as f:
            json.dump(state, f, indent=2)
        print(f"step {step}: saved, eval_loss {eval_loss} (best {best[0]})", flush=True)
        time.sleep(args.every)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass

#!/usr/bin/env python3
"""Writes the fuzz seed corpora (fuzz/seeds/<harness>/) from the fixtures already in the repo.

Each seed is laid out as its harness reads it (see the module doc of fuzz/src/bin/<harness>.rs):
a few header bytes choosing the mode, then a real fixture. Rerun after changing a harness's
input layout or the fixtures:

    python3 fuzz/seeds/generate.py
"""
import glob
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DELIM = b"\x00\xffREC\xff\x00"  # tensorboard.rs DELIM


def out(harness, name, data):
    d = os.path.join(HERE, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def records(data):
    """The data of each whole TFRecord in an event file (checksums not checked)."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        if pos + 12 + length + 4 > len(data):
            break
        out.append(data[pos + 12 : pos + 12 + length])
        pos += 12 + length + 4
    return out


def tensorboard():
    tags = {
        "simple": "val/loss",
        "corrupted": "val/loss",
        "truncated": "val/loss",
        "restart": "val/loss",
        "tensors": "val/loss",
        "megatron": "lm loss validation",
        "torchtitan": "validation_metrics/loss",
    }
    files = sorted(glob.glob(os.path.join(REPO, "tests/fixtures/tensorboard/*/*tfevents*")))
    for i, path in enumerate(files):
        kind = os.path.basename(os.path.dirname(path))
        tag = tags.get(kind, "val/loss").encode()
        data = open(path, "rb").read()
        name = f"{kind}-{i}"
        # flags: bit 0 framed, bits 1-2 record limit, bits 3-4 interest; cut; tag length.
        out("tensorboard", name + "-raw", bytes([0, 128, len(tag)]) + tag + data)
        out("tensorboard", name + "-raw-limit64-interest", bytes([2 | 16, 77, len(tag)]) + tag + data)
        framed = DELIM.join(records(data))
        out("tensorboard", name + "-framed", bytes([1 | 16, 200, len(tag)]) + tag + framed)


def metric_files():
    # byte 0: reader (0 checkpoint_json, 1 csv, 2 jsonl); byte 1: question (metric in bits
    # 0-2, step or step key in 3-5, interest/how in 6-7).
    for path in sorted(glob.glob(os.path.join(REPO, "tests/fixtures/json/*.json"))):
        name = os.path.splitext(os.path.basename(path))[0]
        data = open(path, "rb").read()
        # eval_loss at step 500 with every number; loss at step 100, no JSON5 fallback.
        out("metric_files", f"json-{name}", bytes([0, 1 | (5 << 3) | (1 << 6)]) + data)
        out("metric_files", f"json-{name}-strict", bytes([0, 2 | (4 << 3) | (3 << 6)]) + data)
    csvs = {
        "lightning": b"epoch,step,train_loss,val_loss\n0,49,0.9,\n0,99,,0.70\n1,149,0.6,\n1,199,,nan\n",
        "floats": b"step,val/loss,lr\n100.0,0.5,1e-4\n200,inf,\n300, 0.25 ,\n",
        "quoted": b'"step","eval_loss","note"\n10,"0.5","a, b"\n100,0.4,"x\ny"\n',
    }
    for name, data in csvs.items():
        out("metric_files", f"csv-{name}", bytes([1, 1 | (2 << 6)]) + data)
        out("metric_files", f"csv-{name}-val", bytes([1, 3 | (3 << 6)]) + data)
    jsonls = {
        "metrics": b'{"step": 100, "val/loss": 0.5}\n{"step": 150, "lr": 1e-4}\n{"step": 200, "val/loss": NaN}\n',
        "partial": b'{"step": 1, "eval_loss": 2}\nnot json\n{"step": 3, "eval_loss": 4}\n{"step": 10, "eval_',
        "json5": b"{step: 10, eval_loss: Infinity, 'loss': .5,}\n{\"global_step\": 100.0, \"eval_loss\": -0.0}\n",
    }
    for name, data in jsonls.items():
        out("metric_files", f"jsonl-{name}", bytes([2, 3 | (2 << 6)]) + data)
        out("metric_files", f"jsonl-{name}-eval", bytes([2, 1 | (1 << 3) | (3 << 6)]) + data)


def config():
    paths = sorted(glob.glob(os.path.join(REPO, "config/**/*.toml"), recursive=True))
    override = b'keep_last = 5\nkeep_best = 2\nmetric = "loss"\nmode = "min"\nsettle = "30s"\n'
    for path in paths:
        name = os.path.splitext(os.path.relpath(path, os.path.join(REPO, "config")))[0].replace("/", "-")
        data = open(path, "rb").read()
        out("config", name, data)
        out("config", name + "-override", data + b"\0" + override)
    # The TOML examples of the docs, one seed per fenced block.
    for path in sorted(glob.glob(os.path.join(REPO, "docs/*.md"))):
        text = open(path, encoding="utf-8").read()
        for i, block in enumerate(re.findall(r"```toml\n(.*?)```", text, re.S)):
            base = os.path.splitext(os.path.basename(path))[0]
            out("config", f"doc-{base}-{i}", block.encode())
    out("config", "bad-override", b"\0" + b'layout = "x"\nkeep_evry = 3\nkeep_every = [{ steps = 0 }]\n')


def patterns():
    # byte 0: bit 0 regex, bits 1+ the layout preset; pattern NUL names (NUL-separated).
    cases = [
        (0, "model_step{step}.pt", ["model_step100.pt", "model_step.pt", "model_step99999999999999999999999.pt"]),
        (0, "ep{epoch}-step{step}-{val/loss}.pt", ["ep3-step1200-0.25.pt", "ep1-step5-nan.pt"]),
        (0, "*-step={step}*", ["megatron_gpt--val_loss=1.2-step=400-consumed=1", "x-step=1-last"]),
        (0, "epoch{epoch}-step{step}", ["epoch1-step10", "epoch1-step10.tmp"]),
        (1, r"ckpt-ep(?P<epoch>\d+)-acc(?P<acc>[0-9.]+)\.bin", ["ckpt-ep2-acc0.93.bin", "ckpt-ep2-acc..bin"]),
        (1, r"c_(?P<step>\w+)", ["c_abc", "c_12"]),
    ]
    for i, (regex, pattern, names) in enumerate(cases):
        for layout in (0, 4):  # generic, dcp
            body = pattern.encode() + b"\0" + b"\0".join(n.encode() for n in names)
            out("patterns", f"case{i}-layout{layout}", bytes([regex | (layout << 1)]) + body)
    # The presets without a pattern, on their framework's own names.
    names = ["checkpoint-500", "epoch=3-step=1200.ckpt", "global_step100", "iter_0000100", "100",
             "step-10", "epoch1-global_step100", "megatron_gpt--val_loss=1.2-step=400-last", "latest",
             "last.ckpt", "tmp-checkpoint-5", ".ckptd-trash", "100.orbax-checkpoint-tmp-1"]
    for layout in range(1, 11):
        out("patterns", f"preset{layout}", bytes([1 | (layout << 1)]) + b"(\0" + b"\0".join(n.encode() for n in names))


tensorboard()
metric_files()
config()
patterns()

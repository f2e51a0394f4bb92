#!/usr/bin/env bash
# Builds demo/runs/ under the repository root: two small, realistic training runs for trying
# ckptd without a GPU.
#
#   demo/runs/hf-bert/      a Hugging Face Trainer run: checkpoint-500 … checkpoint-4000, each with
#                           config.json, model.safetensors, optimizer.pt, trainer_state.json
#                           (log_history holds a train entry and an eval entry per step) and
#                           best_model_checkpoint; plus checkpoint-4500, a save that crashed
#                           before trainer_state.json was written (incomplete: never deleted).
#   demo/runs/lit-resnet/   a PyTorch Lightning run: epoch=E-step=S-val_loss=V.ckpt files and a
#                           last.ckpt symlink to the newest one.
#
# Every file is dated an hour or more in the past, one minute apart, oldest first, so every
# checkpoint has settled. Safe to run again: demo/runs/ is removed and rebuilt each time (demo/live and demo/state,
# the live demo's, are left alone).
#
#   scripts/make-demo.sh && ckptd plan --config config/demo.toml
#
# Needs bash and GNU coreutils (head, touch -d @EPOCH, date).

set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
demo="$root/demo"
# Only the runs: demo/live and demo/state belong to the live demo (scripts/demo-daemon.sh).
rm -rf "$demo/runs"
mkdir -p "$demo/runs"

now="$(date +%s)"
# Everything is finished by an hour ago; the first file is 30 minutes older than that.
clock=$((now - 3600 - 30 * 60))

# Sets the mtime of each path (files first, then their directory) to the demo clock, then
# advances the clock by one minute.
stamp() {
    local path
    for path in "$@"; do
        touch -h -d "@$clock" "$path"
    done
    clock=$((clock + 60))
}

# Writes $2 bytes of zeros to $1.
dummy() {
    head -c "$2" /dev/zero >"$1"
}

# --- Hugging Face --------------------------------------------------------------------------
hf="$demo/runs/hf-bert"
mkdir -p "$hf"

cat >"$hf/README.md" <<'EOF'
Demo run: `Trainer(..., args=TrainingArguments(output_dir="demo/runs/hf-bert",
save_steps=500, eval_steps=500, eval_strategy="steps", load_best_model_at_end=True,
metric_for_best_model="eval_loss"))`. Not a checkpoint: ckptd never touches it.
EOF

steps=(500 1000 1500 2000 2500 3000 3500 4000)
train_loss=(2.6412 1.9875 1.6203 1.4418 1.3102 1.2189 1.1530 1.0964)
eval_loss=(2.3107 1.7402 1.4236 1.2731 1.1894 1.2105 1.2377 1.2612)
history=""
best_step=""
best_loss=""
for i in "${!steps[@]}"; do
    step="${steps[$i]}"
    epoch="$(printf '%d.%02d' $((step / 1000)) $(((step % 1000) / 10)))"
    entry_train="    {\"epoch\": $epoch, \"grad_norm\": 3.41, \"learning_rate\": 4.5e-05, \"loss\": ${train_loss[$i]}, \"step\": $step}"
    entry_eval="    {\"epoch\": $epoch, \"eval_loss\": ${eval_loss[$i]}, \"eval_runtime\": 12.84, \"eval_samples_per_second\": 311.5, \"eval_steps_per_second\": 9.73, \"step\": $step}"
    history="${history:+$history,
}$entry_train,
$entry_eval"
    # The Trainer's own notion of best so far (lower eval_loss wins), as it would write it.
    # Losses are written with four decimals, so comparing them without the dot is exact.
    if [[ -z "$best_loss" ]] || ((10#${eval_loss[$i]/./} < 10#${best_loss/./})); then
        best_loss="${eval_loss[$i]}"
        best_step="$step"
    fi

    ckpt="$hf/checkpoint-$step"
    mkdir -p "$ckpt"
    cat >"$ckpt/config.json" <<'EOF'
{
  "architectures": ["BertForSequenceClassification"],
  "hidden_size": 768,
  "model_type": "bert",
  "num_attention_heads": 12,
  "num_hidden_layers": 12,
  "torch_dtype": "float32",
  "vocab_size": 30522
}
EOF
    dummy "$ckpt/model.safetensors" $((256 * 1024))
    dummy "$ckpt/optimizer.pt" $((512 * 1024))
    dummy "$ckpt/scheduler.pt" 1064
    dummy "$ckpt/rng_state.pth" 14244
    dummy "$ckpt/training_args.bin" 5368
    # trainer_state.json is written last by the Trainer: it is the HF completion marker.
    cat >"$ckpt/trainer_state.json" <<EOF
{
  "best_metric": $best_loss,
  "best_model_checkpoint": "demo/runs/hf-bert/checkpoint-$best_step",
  "epoch": $epoch,
  "eval_steps": 500,
  "global_step": $step,
  "is_hyper_param_search": false,
  "is_local_process_zero": true,
  "is_world_process_zero": true,
  "log_history": [
$history
  ],
  "logging_steps": 500,
  "max_steps": 5000,
  "num_train_epochs": 5,
  "save_steps": 500,
  "total_flos": 0.0,
  "train_batch_size": 32,
  "trial_name": null,
  "trial_params": null
}
EOF
    stamp "$ckpt"/* "$ckpt"
done

# A save that died before trainer_state.json: incomplete, so it is never deleted or counted.
crashed="$hf/checkpoint-4500"
mkdir -p "$crashed"
dummy "$crashed/model.safetensors" $((256 * 1024))
dummy "$crashed/optimizer.pt" $((100 * 1024))
stamp "$crashed"/* "$crashed"
stamp "$hf/README.md" "$hf"

# --- PyTorch Lightning ---------------------------------------------------------------------
# ModelCheckpoint(dirpath="demo/runs/lit-resnet", filename="{epoch}-{step}-{val_loss:.2f}",
#                 save_top_k=-1, save_last="link")
lit="$demo/runs/lit-resnet"
mkdir -p "$lit"
val_loss=(0.91 0.64 0.52 0.47 0.43 0.45 0.41 0.44)
newest=""
for epoch in "${!val_loss[@]}"; do
    step=$(((epoch + 1) * 391))
    newest="epoch=$epoch-step=$step-val_loss=${val_loss[$epoch]}.ckpt"
    dummy "$lit/$newest" $((384 * 1024))
    stamp "$lit/$newest"
done
ln -s "$newest" "$lit/last.ckpt"
cat >"$lit/hparams.yaml" <<'EOF'
batch_size: 128
lr: 0.1
model: resnet18
EOF
stamp "$lit/last.ckpt" "$lit/hparams.yaml" "$lit"

echo "demo runs created in $demo/runs:"
for run in "$demo"/runs/*; do
    echo "  ${run#"$root"/}: $(find "$run" -mindepth 1 -maxdepth 1 | wc -l) entries"
done
echo "next: ckptd plan --config config/demo.toml   (ckptd on your PATH: README.md, Install)"

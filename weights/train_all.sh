#!/usr/bin/env bash
# The commands that made every shipped model, in order (each card repeats its own exact command).
# Run from the repository root with the data beside it:  bash weights/train_all.sh
# Every training checkpoints each epoch (~/.fer-dashboard/checkpoints/NAME) and continues with --resume.
# On a CUDA machine the same commands train with mixed precision.
set -euo pipefail
DATA=${FER_DATA_DIR:-../shared/data}

# The headline network: BreuerNet (8 convs, width 0.75, batch norm folded before shipping) on FER2013's
# train split; 10% of train held out picks the epoch and fits the temperature; PublicTest scored once.
# About 110 s an epoch on 2 CPU cores with bf16 autocast (1.9 h for 50 epochs).
python -m core train --name breuer2017-fer2013 --arch breuer2017 --width 0.75 --format fer2013 --root "$DATA/fer2013" \
  --train-split train --test-split test --epochs 50 --optimizer sgd --lr 0.05 --no-balance --resume

# The FanNet models shipped today were trained on FER2013's earlier (blurred) train split with the commands in
# their cards; these are the commands that retrain them on the corrected split (the LSTMs below read
# fan2019-fer2013's features, so they are retrained after it).
python -m core train --name fan2019-fer2013 --arch fan2019 --format fer2013 --root "$DATA/fer2013" \
  --train-split train --test-split test --epochs 30 --optimizer sgd --lr 0.05 --no-balance --resume
python -m core train --name fan2019-ckplus-ft --arch fan2019 --format ckplus --root "$DATA/ckplus48" \
  --init fan2019-fer2013 --cv 10 --epochs 30 --lr 1e-3 --resume
python -m core train --name fan2019-ckplus --arch fan2019 --format ckplus --root "$DATA/ckplus48" \
  --cv 10 --epochs 30 --lr 3e-3 --resume

# CK+ from the FER2013 network and from scratch, the same 10 subject folds.
python -m core train --name breuer2017-ckplus-ft --arch breuer2017 --width 0.75 --format ckplus --root "$DATA/ckplus48" \
  --init breuer2017-fer2013 --cv 10 --epochs 30 --lr 5e-4 --resume
python -m core train --name breuer2017-ckplus --arch breuer2017 --width 0.75 --format ckplus --root "$DATA/ckplus48" \
  --cv 10 --epochs 30 --optimizer sgd --lr 0.05 --resume

# The micro-expression LSTMs, on synthetic clips drawn by the project (core/micro/synthetic.py): 92 clips
# of 4 drawn faces; their cards' metrics are leave-one-face-out (4 folds); the shipped models train on all 92.
python -m core train --name micro-lstm-synthetic --arch micro_lstm --labels megc --clips 60 --face3-clips 20 \
  --balance-clips 3 --epochs 40 --hidden 64
python -m core train --name micro-lstm-synthetic-casme2 --arch micro_lstm --labels casme2 --clips 60 \
  --face3-clips 20 --balance-clips 3 --epochs 40 --hidden 64

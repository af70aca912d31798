"""Linear regression with DistributedDataParallel, on CPUs with the gloo backend.

Chapter 6-3 of "PyTorch in 20 Days" starts it with torchrun:

    OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node=2 ddp_linear.py CHECKPOINT

(torchrun sets OMP_NUM_THREADS=1 itself only when the variable is unset; set it to the CPU's threads
divided by the number of processes, so that the processes do not fight over the cores.)

Every rank builds the same 4,000 points, trains on its own share of each epoch, and rank 0
prints one JSON line with every rank's result and writes CHECKPOINT. On GPUs a few lines
change: the backend becomes "nccl", each process calls torch.cuda.set_device(local_rank)
(LOCAL_RANK comes from torchrun's environment) and moves the model and every batch to that
GPU, and the model is wrapped as DDP(model, device_ids=[local_rank]).
"""

import json
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import pt20

SEED = 0
GLOBAL_BATCH, EPOCHS = 200, 30

dist.init_process_group(backend="gloo")  # torchrun has set RANK, WORLD_SIZE and where to meet
rank, world = dist.get_rank(), dist.get_world_size()

gen = pt20.seed.seed_everything(SEED)  # the same on every rank: the same data, the same initial weights
X = 10 * torch.rand(4000, 2, generator=gen) - 5
y = X @ torch.tensor([[2.0], [-3.0]]) + 10 + 2 * torch.randn(4000, 1, generator=gen)
ds = TensorDataset(X, y)
# Each rank reads every world-th index of one shuffled order; the order changes with set_epoch.
sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=SEED + pt20.seed.offset())
dl = DataLoader(ds, batch_size=GLOBAL_BATCH // world, sampler=sampler)

model = DDP(nn.Linear(2, 1))  # broadcasts rank 0's weights to every rank
optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
for epoch in range(EPOCHS):
    sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
    seen = 0
    for xb, yb in dl:
        loss = nn.functional.mse_loss(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()  # DDP all-reduces the gradients here: every rank gets their average
        optimizer.step()
        seen += len(xb)

w, b = model.module.weight.detach().flatten().tolist(), model.module.bias.item()
mine = {"rank": rank, "world": world, "threads": torch.get_num_threads(), "samples": seen,
        "w1": w[0], "w2": w[1], "b": b}
everyone = [None] * world
dist.all_gather_object(everyone, mine)  # every rank's result, on every rank
if rank == 0:  # one process reports and saves, from the inner module (no "module." prefix)
    print(json.dumps(everyone))
    torch.save(model.module.state_dict(), sys.argv[1])
dist.destroy_process_group()

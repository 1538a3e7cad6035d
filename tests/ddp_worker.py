"""Run under torchrun by test_train.py: trains with DDP, then each rank saves the weights it ended with."""
import sys
from pathlib import Path

import torch.distributed as dist
from safetensors.torch import save_file

from imitator.train import TrainConfig, train

data, out = sys.argv[1], Path(sys.argv[2])
result = train(TrainConfig(data, str(out), encoder="mel", epochs=3, lr=1e-3, model={"d_model": 32, "ff_dim": 64},
                           progress=False))
state = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
save_file(state, out / f"rank{dist.get_rank()}.safetensors")
dist.barrier()
dist.destroy_process_group()

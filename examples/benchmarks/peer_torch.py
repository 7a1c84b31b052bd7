"""The benchmark MLP in PyTorch (eager), for examples/benchmarks/mlp.py.  Prints JSON lines."""
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count()))
import numpy as np  # noqa: E402
import torch  # noqa: E402

from _timing import emit, first_call, median_time  # noqa: E402


def main(budget: float):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                                torch.nn.ReLU(), torch.nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    lossf = torch.nn.CrossEntropyLoss()
    x = torch.from_numpy(rng.standard_normal((128, 784), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, 128))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    emit(framework="torch", bench="mlp_train", first_call_s=first_call(step),
         seconds=median_time(step, budget))
    x1 = rng.standard_normal((1, 784), dtype=np.float32)
    xb = rng.standard_normal((1024, 784), dtype=np.float32)

    def predict(a):
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(a)), -1).numpy()
    emit(framework="torch", bench="mlp_predict_b1", seconds=median_time(lambda: predict(x1), budget))
    emit(framework="torch", bench="mlp_predict_b1024", seconds=median_time(lambda: predict(xb), budget))


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)

"""The benchmark MLP in JAX (jit), for examples/benchmarks/mlp.py.  Prints JSON lines."""
import sys

import numpy as np
import jax
import jax.numpy as jnp

from _timing import emit, first_call, median_time


def main(budget: float):
    rng = np.random.default_rng(0)
    sizes = [(784, 512), (512, 512), (512, 10)]
    params = [(jnp.asarray(rng.standard_normal(s, dtype=np.float32) * 0.05), jnp.zeros(s[1]))
              for s in sizes]
    mom = jax.tree_util.tree_map(jnp.zeros_like, params)

    def forward(p, x):
        for i, (w, b) in enumerate(p):
            x = x @ w + b
            if i < len(p) - 1:
                x = jax.nn.relu(x)
        return x

    def loss(p, x, y):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(forward(p, x)), y[:, None], 1))

    @jax.jit
    def step(p, m, x, y):
        lv, g = jax.value_and_grad(loss)(p, x, y)
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m - 0.01 * g, m, g)
        p = jax.tree_util.tree_map(lambda p, m: p + m, p, m)
        return p, m, lv

    x = jnp.asarray(rng.standard_normal((128, 784), dtype=np.float32))
    y = jnp.asarray(rng.integers(0, 10, 128))
    state = [params, mom]

    def run():
        state[0], state[1], lv = step(state[0], state[1], x, y)
        lv.block_until_ready()
    emit(framework="jax", bench="mlp_train", first_call_s=first_call(run), seconds=median_time(run, budget))
    pred = jax.jit(lambda p, x: jax.nn.softmax(forward(p, x)))
    x1 = rng.standard_normal((1, 784), dtype=np.float32)
    xb = rng.standard_normal((1024, 784), dtype=np.float32)
    emit(framework="jax", bench="mlp_predict_b1",
         seconds=median_time(lambda: np.asarray(pred(state[0], x1)), budget))
    emit(framework="jax", bench="mlp_predict_b1024",
         seconds=median_time(lambda: np.asarray(pred(state[0], xb)), budget))


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)

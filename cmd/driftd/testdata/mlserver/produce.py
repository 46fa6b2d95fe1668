"""Writes inference requests to MLServer's Kafka input topic, encoded by
MLServer's own pandas codec, as a client of MLServer's Kafka server would.

Usage: python produce.py BROKERS TOPIC REQUESTS BATCH CHARGES_SHIFT SEED

Each request is a batch of BATCH rows drawn as in train.py, with
CHARGES_SHIFT added to the charges column; the model is named in the
mlserver-model header and the request ID is the key. Prints the number of
requests written.
"""

import asyncio
import sys

import numpy as np
from aiokafka import AIOKafkaProducer
from mlserver.codecs import PandasCodec

from train import draw


async def main():
    brokers, topic = sys.argv[1], sys.argv[2]
    requests, batch = int(sys.argv[3]), int(sys.argv[4])
    shift, seed = float(sys.argv[5]), int(sys.argv[6])
    rng = np.random.default_rng(seed)
    producer = AIOKafkaProducer(bootstrap_servers=brokers)
    await producer.start()
    try:
        for i in range(requests):
            req = PandasCodec.encode_request(draw(rng, batch, shift))
            await producer.send(
                topic,
                key=f"req-{seed}-{i}".encode(),
                value=req.model_dump_json().encode(),
                headers=[("mlserver-model", b"churn")],
            )
        await producer.flush()
    finally:
        await producer.stop()
    print(requests)


if __name__ == "__main__":
    asyncio.run(main())

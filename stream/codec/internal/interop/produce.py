"""Encode inference traffic with producers driftd did not write.

Writes one JSON line per Kafka record to stdout: topic, key, value and
headers (base64), and the phase ("stable" or "shifted": x moved by 1.5 sd).
Used by TestInteropProducers (interop_test.go); pinned versions in
requirements.txt. Encoders:

- confluent-kafka AvroSerializer, ProtobufSerializer, JSONSerializer with
  SchemaRegistryClient, against the registry at argv[1];
- kserve's InferRequest / InferResponse: OIP v2 REST JSON and gRPC
  protobuf (Seldon-style topic names);
- the cloudevents SDK's Kafka conversions, binary and structured mode.
"""

import base64
import json
import random
import sys

import numpy as np
from cloudevents.http import CloudEvent
from cloudevents.kafka import to_binary, to_structured
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from kserve import InferInput, InferOutput, InferRequest, InferResponse

STABLE, SHIFTED, BATCH = 2000, 1200, 8
PLANS = ["basic", "pro", "pro", "enterprise"]


def rows(rng, n, shift):
    return [{"x": shift + rng.gauss(0, 1), "plan": rng.choice(PLANS), "score": rng.random()} for _ in range(n)]


def emit(topic, value, phase, key=b"", headers=()):
    print(json.dumps({
        "topic": topic, "phase": phase,
        "key": base64.b64encode(key or b"").decode(),
        "value": base64.b64encode(value).decode(),
        "headers": [[k, base64.b64encode(v if isinstance(v, bytes) else str(v).encode()).decode()] for k, v in headers],
    }))


def phases(rng):
    yield "stable", rows(rng, STABLE, 0.0)
    yield "shifted", rows(rng, SHIFTED, 1.5)


def schema_registry(url):
    client = SchemaRegistryClient({"url": url})
    avro_schema = json.dumps({"type": "record", "name": "Event", "namespace": "churn", "fields": [
        {"name": "model", "type": "string"}, {"name": "model_version", "type": "string"},
        {"name": "x", "type": "double"}, {"name": "plan", "type": ["null", "string"], "default": None},
        {"name": "prediction", "type": "double"}]})
    avro = AvroSerializer(client, avro_schema)
    json_schema = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Event", "type": "object",
                              "properties": {"model": {"type": "string"}, "model_version": {"type": "string"},
                                             "x": {"type": "number"}, "plan": {"type": ["string", "null"]},
                                             "prediction": {"type": "number"}}})
    js = JSONSerializer(json_schema, client)
    # A protobuf message type built at run time (no generated module).
    fdp = descriptor_pb2.FileDescriptorProto(name="churn_event.proto", package="churn", syntax="proto3")
    msg = fdp.message_type.add(name="Event")
    for i, (name, typ) in enumerate([("model", 9), ("model_version", 9), ("x", 1), ("plan", 9), ("prediction", 1)], 1):
        msg.field.add(name=name, number=i, type=typ, label=1)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    Event = message_factory.GetMessageClass(pool.FindMessageTypeByName("churn.Event"))
    pb = ProtobufSerializer(Event, client, {"use.deprecated.format": False})

    rng = random.Random(11)
    for phase, rs in phases(rng):
        for r in rs:
            emit("sr-avro", avro({"model": "avro-churn", "model_version": "3", "x": r["x"], "plan": r["plan"], "prediction": r["score"]},
                                  SerializationContext("sr-avro", MessageField.VALUE)), phase)
            emit("sr-json", js({"model": "json-churn", "model_version": "3", "x": r["x"], "plan": r["plan"], "prediction": r["score"]},
                                SerializationContext("sr-json", MessageField.VALUE)), phase)
            emit("sr-protobuf", pb(Event(model="proto-churn", model_version="3", x=r["x"], plan=r["plan"], prediction=r["score"]),
                                   SerializationContext("sr-protobuf", MessageField.VALUE)), phase)


def rest_json(body):
    if isinstance(body, bytes):
        return body
    return json.dumps(body, default=lambda o: o.tolist() if hasattr(o, "tolist") else o.decode()).encode()


def kserve():
    rng = random.Random(12)
    n = 0
    for phase, rs in phases(rng):
        for i in range(0, len(rs), BATCH):
            b = rs[i:i + BATCH]
            n += 1
            x = InferInput("x", [len(b), 1], "FP64")
            x.set_data_from_numpy(np.array([[r["x"]] for r in b], dtype=np.float64), binary_data=False)
            plan = InferInput("plan", [len(b), 1], "BYTES")
            plan.set_data_from_numpy(np.array([[r["plan"]] for r in b], dtype=np.object_), binary_data=False)
            req = InferRequest(model_name="kserve-churn", infer_inputs=[x, plan], request_id=str(n))
            out = InferOutput("predict", [len(b), 1], "FP64")
            out.set_data_from_numpy(np.array([[r["score"]] for r in b], dtype=np.float64), binary_data=False)
            resp = InferResponse(response_id=str(n), model_name="kserve-churn", model_version="3", infer_outputs=[out])
            rest, _ = req.to_rest()
            rest["model_name"], rest["model_version"] = "kserve-churn", "3"
            emit("kserve-v2-json", rest_json(rest), phase, key=str(n).encode())
            emit("kserve-v2-json", rest_json(resp.to_rest()[0]), phase, key=str(n).encode())
            g = req.to_grpc()
            g.model_version = "3"
            emit("seldon.default.model.seldon-churn.inputs", g.SerializeToString(), phase, key=str(n).encode())
            emit("seldon.default.model.seldon-churn.outputs", resp.to_grpc().SerializeToString(), phase, key=str(n).encode())


def cloudevents():
    rng = random.Random(13)
    n = 0
    for phase, rs in phases(rng):
        for i in range(0, len(rs), BATCH):
            b = rs[i:i + BATCH]
            n += 1
            attrs = {"type": "org.kubeflow.serving.inference.request", "source": "http://ce-churn-predictor/",
                     "inferenceservicename": "ce-churn", "modelversion": "3", "id": f"{n}-req",
                     "datacontenttype": "application/json"}
            req = CloudEvent(attrs, {"instances": [{"x": r["x"], "plan": r["plan"]} for r in b]})
            attrs = dict(attrs, type="org.kubeflow.serving.inference.response", id=f"{n}-resp")
            resp = CloudEvent(attrs, {"predictions": [r["score"] for r in b]})
            # Requests in binary mode, responses in structured mode.
            as_json = lambda d: json.dumps(d).encode()  # noqa: E731
            for m in (to_binary(req, data_marshaller=as_json), to_structured(resp, data_marshaller=as_json)):
                emit("kserve-logger", m.value, phase, key=m.key or b"", headers=list(m.headers.items()))


if __name__ == "__main__":
    schema_registry(sys.argv[1])
    kserve()
    cloudevents()

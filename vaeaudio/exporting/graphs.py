"""ONNX graphs written from a Keras functional model's layers and weights, with `onnx.helper`: no converter.

The encoder and the decoder of every layout (`vaeaudio.models`) are small
compositions of a few layer kinds; `graph` walks a functional model's layers in
order and writes each as ONNX operators, its weights as initializers:

    InputLayer         a graph input (float32; a one-hot class input becomes int64 labels (B,) and a OneHot)
    Dense              Gemm (x W + b), then its activation
    Conv2D             Conv with explicit pads (TensorFlow's 'same': the odd pixel at the end), then its activation
    Conv2DTranspose    ConvTranspose with the pads and output padding that give the Keras layer's output size
    Reshape, Flatten   Reshape / Flatten of the Keras (channels-last) layout
    Permute            Transpose of the Keras (channels-last) layout
    Concatenate        Concat on the last axis of (B, n) tensors
    Dropout            nothing (inference)
    Activation         its activation

Keras keeps images channels-last (B, H, W, C) and ONNX's convolutions take
channels-first (B, C, H, W): a 4-D value carries its layout, and a Transpose is
written only where a channels-first value meets an operator that reads memory
order (Reshape, Flatten, Permute) or a channels-last one meets a convolution; one channel
needs none. A layer of any other kind, an activation outside `ACTIVATIONS`, or a
layer computing in another dtype than float32 is refused with one line
(`ModelError`), never approximated. Only the weights are read from Keras, so the
graphs are the same bytes for the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from vaeaudio.util.errors import ModelError

#: The ONNX operator set the graphs declare: every operator used here is unchanged since opset 13 or earlier, and
#: 17 is loaded by every onnxruntime since 1.12 (2022) and by the other common runtimes (docs/usage.md#export).
OPSET = 17
#: Keras activation name -> ONNX operator (None: none).
ACTIVATIONS = {"linear": None, "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
#: Layer kinds `graph` writes (`Dropout` as nothing).
LAYERS = ("InputLayer", "Dense", "Conv2D", "Conv2DTranspose", "Reshape", "Flatten", "Permute", "Concatenate",
          "Dropout", "Activation")


@dataclass
class _Value:
    """An ONNX value standing for a Keras tensor: its name, its Keras shape (without the batch) and, for 4-D
    images, whether it is stored channels-first."""

    name: str
    shape: tuple[int, ...]
    channels_first: bool = False


class _Writer:
    """Collects the nodes and initializers of one graph."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self.count = 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}__{self.count}"

    def const(self, name: str, array: np.ndarray) -> str:
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, kind: str, inputs: list[str], hint: str, out: str | None = None, **attrs) -> str:
        out = out or self.fresh(hint)
        self.nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def channels_last(self, v: _Value) -> _Value:
        """`v` in Keras's own memory order (a channels-first image transposed back, unless it has one channel)."""
        if not v.channels_first:
            return v
        if v.shape[-1] == 1:
            return _Value(v.name, v.shape)
        return _Value(self.op("Transpose", [v.name], "to_nhwc", perm=[0, 2, 3, 1]), v.shape)

    def channels_first(self, v: _Value) -> _Value:
        """`v` (a 4-D image) channels-first, as ONNX's convolutions read it."""
        if v.channels_first:
            return v
        if v.shape[-1] == 1:
            h, w = v.shape[:2]
            name = self.op("Reshape", [v.name, self.const(self.fresh("shape"), np.array([-1, 1, h, w]))], "to_nchw")
        else:
            name = self.op("Transpose", [v.name], "to_nchw", perm=[0, 3, 1, 2])
        return _Value(name, v.shape, True)

    def activate(self, name: str, activation: str, layer) -> str:
        if activation not in ACTIVATIONS:
            raise _refuse(layer, f"activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
        kind = ACTIVATIONS[activation]
        return name if kind is None else self.op(kind, [name], f"{layer.name}_{activation}")


def _refuse(layer, what: str) -> ModelError:
    return ModelError(f"cannot export layer {layer.name!r} ({type(layer).__name__}): {what}",
                      f"the ONNX export writes {', '.join(LAYERS)} layers of float32 models")


def _activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return "linear" if activation is None else activation.__name__


def _same_pads(size: int, kernel: int, stride: int, out: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding (before, after) of a convolution of `size` inputs to `out` outputs."""
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv(w: _Writer, layer, x: _Value, out_shape: tuple[int, ...], transpose: bool) -> _Value:
    config = layer.get_config()
    if config.get("data_format", "channels_last") != "channels_last" or config.get("groups", 1) != 1 \
            or tuple(config.get("dilation_rate", (1, 1))) != (1, 1):
        raise _refuse(layer, "only channels-last, ungrouped, undilated convolutions")
    kernel, *bias = layer.get_weights()
    kh, kw = kernel.shape[:2]
    strides = tuple(config["strides"])
    x = w.channels_first(x)
    pads, extra = [], []
    for axis, k, s in ((0, kh, strides[0]), (1, kw, strides[1])):
        small, big = (x.shape[axis], out_shape[axis]) if transpose else (out_shape[axis], x.shape[axis])
        before, after = _same_pads(big, k, s, small) if config["padding"] == "same" else (0, 0)
        pads.append((before, after))
        # a transposed convolution's full output is (small - 1) s + k; the pads crop it, output padding extends it
        extra.append(big - ((small - 1) * s + k - before - after) if transpose else 0)
    attrs = {"kernel_shape": [kh, kw], "strides": list(strides),
             "pads": [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]}
    # Keras kernels are (kh, kw, in, out) for Conv2D and (kh, kw, out, in) for Conv2DTranspose; ONNX wants
    # (out, in, kh, kw) and (in, out, kh, kw): the same permutation of both
    inputs = [x.name, w.const(f"{layer.name}.kernel", kernel.transpose(3, 2, 0, 1))]
    if bias:
        inputs.append(w.const(f"{layer.name}.bias", bias[0]))
    if transpose:
        if min(extra) < 0 or max(e - s for e, s in zip(extra, strides)) >= 0:
            raise _refuse(layer, f"output size {out_shape[:2]} is not one ConvTranspose can give")
        attrs["output_padding"] = extra
    name = w.op("ConvTranspose" if transpose else "Conv", inputs, layer.name, **attrs)
    return _Value(w.activate(name, _activation_name(layer), layer), tuple(out_shape), True)


def _shape(tensor) -> tuple[int, ...]:
    return tuple(int(n) for n in tensor.shape[1:])


def graph(model, name: str, outputs: list[str], post: dict[str, str] | None = None,
          class_input: str | None = None) -> onnx.ModelProto:
    """The ONNX model of Keras functional `model`: its inputs by their Keras names (a float32 input named
    `class_input`, one-hot (B, N), becomes int64 labels (B,) one-hot encoded in the graph), its outputs named
    `outputs` (in order), each passed through the ONNX operator `post[name]` (e.g. 'Sigmoid') when given.
    Raises `ModelError` naming the first layer it cannot write."""
    w = _Writer()
    values: dict[int, _Value] = {}
    graph_inputs = []
    for tensor in model.inputs:
        shape, input_name = _shape(tensor), tensor.name
        if input_name == class_input:
            graph_inputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]))
            depth, on_off = w.const("classes", np.array([shape[0]], np.int64)), w.const("on_off", np.array([0, 1],
                                                                                                  np.float32))
            values[id(tensor)] = _Value(w.op("OneHot", ["label", depth, on_off], "one_hot", axis=-1), shape)
        else:
            graph_inputs.append(helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", *shape]))
            values[id(tensor)] = _Value(input_name, shape)
    for layer in model.operations:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if kind not in LAYERS:
            raise _refuse(layer, "no ONNX translation for this kind of layer")
        if getattr(layer, "dtype_policy", None) is not None and layer.dtype_policy.compute_dtype != "float32":
            raise _refuse(layer, f"it computes in {layer.dtype_policy.compute_dtype}")
        node = layer._inbound_nodes[0]
        ins = [values[id(t)] for t in node.input_tensors]
        out_shape = _shape(node.output_tensors[0])
        if kind == "Dense":
            if len(ins[0].shape) != 1:
                raise _refuse(layer, "only on (batch, features) inputs")
            kernel, *bias = layer.get_weights()
            inputs = [ins[0].name, w.const(f"{layer.name}.kernel", kernel)]
            if bias:
                inputs.append(w.const(f"{layer.name}.bias", bias[0]))
            out = _Value(w.activate(w.op("Gemm", inputs, layer.name), _activation_name(layer), layer), out_shape)
        elif kind in ("Conv2D", "Conv2DTranspose"):
            out = _conv(w, layer, ins[0], out_shape, kind == "Conv2DTranspose")
        elif kind in ("Reshape", "Flatten"):
            x = w.channels_last(ins[0])
            out = _Value(w.op("Reshape", [x.name, w.const(f"{layer.name}.shape", np.array([-1, *out_shape]))],
                              layer.name), out_shape)
        elif kind == "Permute":
            x = w.channels_last(ins[0])
            out = _Value(w.op("Transpose", [x.name], layer.name, perm=[0, *layer.dims]), out_shape)
        elif kind == "Concatenate":
            if any(len(v.shape) != 1 for v in ins) or layer.axis not in (-1, 1):
                raise _refuse(layer, "only on the last axis of (batch, features) inputs")
            out = _Value(w.op("Concat", [v.name for v in ins], layer.name, axis=1), out_shape)
        elif kind == "Dropout":
            out = ins[0]
        else:  # Activation
            out = _Value(w.activate(ins[0].name, _activation_name(layer), layer), ins[0].shape, ins[0].channels_first)
        values[id(node.output_tensors[0])] = out
    graph_outputs = []
    for tensor, out_name in zip(model.outputs, outputs):
        v = w.channels_last(values[id(tensor)])
        kind = (post or {}).get(out_name)
        if kind:
            w.op(kind, [v.name], out_name, out=out_name)
        else:
            w.op("Identity", [v.name], out_name, out=out_name)
        graph_outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["batch", *_shape(tensor)]))
    onnx_graph = helper.make_graph(w.nodes, name, graph_inputs, graph_outputs, w.weights)
    proto = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="vaeaudio", producer_version=_version())
    proto.ir_version = 8  # the IR of opset 17: what runtimes of that age load
    return proto


def _version() -> str:
    from vaeaudio import __version__

    return __version__


def tensor_bytes(model: onnx.ModelProto) -> int:
    """Bytes of `model`'s initializers (its weights)."""
    return sum(len(t.raw_data) for t in model.graph.initializer)
